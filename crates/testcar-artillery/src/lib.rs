//! Native engine for Artillery scripts.
