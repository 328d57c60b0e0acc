//! `config.plugins` and `config.ensure`: the plugins the engine runs natively (expect,
//! ensure, metrics-by-endpoint, apdex), each with the plugin's own defaults.

use super::config::Draft;
use super::{Cx, R, fmt_num, join};
use crate::expr::Expr;
use crate::script::model::{
    ApdexOptions, ByEndpointOptions, EnsureCheck, EnsureKind, ExpectOptions,
};
use crate::yaml::{Node, Value};

impl Cx {
    /// `config.plugins`: the plugins Testcar does natively; the ones that only report
    /// elsewhere are skipped with a warning, any other is refused.
    pub(super) fn config_plugins<'n>(&self, v: &'n Node, k: &str, d: &mut Draft<'n>) -> R<()> {
        let config = &mut d.config;
        for (pk, pv, ppos) in self
            .map(v, k)?
            .iter()
            .map(|(a, b)| (a.scalar_text(), b, a.pos))
        {
            let kk = join(k, &pk);
            match pk.as_str() {
                "expect" => config.expect = Some(self.expect_options(pv, &kk)?),
                "ensure" => d.ensure_nodes.push((pv, kk)),
                "metrics-by-endpoint" => {
                    config.by_endpoint = self.by_endpoint(pv, &kk)?;
                    config.by_endpoint.before_expect = config.expect.is_none();
                }
                "apdex" => {
                    // `apdex:` with nothing after it enables the plugin as is.
                    let threshold = match pv.value {
                        Value::Null => None,
                        _ => self.apdex_threshold(pv, &kk)?,
                    };
                    config.apdex = Some(ApdexOptions {
                        threshold_ms: threshold.unwrap_or(500.0),
                        before_expect: config.expect.is_none(),
                    });
                }
                // Plugins that only send results elsewhere change nothing a run
                // measures or decides: the run goes on, and the log says so.
                "publish-metrics" | "slack" | "memory-inspector" => {
                    tracing::warn!(
                        file = %self.files[ppos.src as usize],
                        line = ppos.line,
                        plugin = %pk,
                        "plugin not run: it only reports elsewhere; Testcar's results and /metrics carry the figures"
                    );
                }
                other => {
                    return Err(self.unsupported(ppos, &kk, &format!("plugin `{other}` is")));
                }
            }
        }
        Ok(())
    }

    fn expect_options(&self, node: &Node, key: &str) -> R<ExpectOptions> {
        let mut o = ExpectOptions {
            format: "pretty".into(),
            ..Default::default()
        };
        if matches!(node.value, Value::Null) {
            return Ok(o);
        }
        let allowed = [
            "outputFormat",
            "formatter",
            "expectDefault200",
            "reportFailuresAsErrors",
            "useOnlyRequestNames",
        ];
        for (k, v, _) in self.entries(node, key, &allowed, &[])? {
            let kk = join(key, k);
            match k {
                "outputFormat" | "formatter" => o.format = self.string(v, &kk)?,
                "expectDefault200" => o.default_200 = self.bool(v, &kk)?,
                "reportFailuresAsErrors" => o.failures_as_errors = self.bool(v, &kk)?,
                _ => o.use_only_names = self.bool(v, &kk)?,
            }
        }
        Ok(o)
    }

    /// The `threshold` (ms) of an apdex mapping (`config.apdex` or `plugins.apdex`), if set.
    pub(super) fn apdex_threshold(&self, node: &Node, key: &str) -> R<Option<f64>> {
        let mut threshold = None;
        for (ak, av, _) in self.entries(node, key, &["threshold"], &[])? {
            let kk = join(key, ak);
            let t = self.number(av, &kk)?;
            if !(t.is_finite() && t > 0.0) {
                return Err(self.err(av.pos, &kk, "expected a positive number of milliseconds"));
            }
            threshold = Some(t);
        }
        Ok(threshold)
    }

    fn by_endpoint(&self, node: &Node, key: &str) -> R<ByEndpointOptions> {
        // A configured plugin starts from the plugin's own defaults, not Artillery's add-on ones.
        let mut o = ByEndpointOptions {
            strip_query: false,
            ..Default::default()
        };
        if matches!(node.value, Value::Null) {
            return Ok(o);
        }
        let allowed = [
            "useOnlyRequestNames",
            "stripQueryString",
            "ignoreUnnamedRequests",
            "metricsNamespace",
            "groupDynamicURLs",
            "suppressOutput",
        ];
        for (k, v, _) in self.entries(node, key, &allowed, &[])? {
            let kk = join(key, k);
            match k {
                "useOnlyRequestNames" => o.only_names = self.bool(v, &kk)?,
                "stripQueryString" => o.strip_query = self.bool(v, &kk)?,
                "ignoreUnnamedRequests" => o.ignore_unnamed = self.bool(v, &kk)?,
                "metricsNamespace" => o.prefix = self.string(v, &kk)?,
                "groupDynamicURLs" => {
                    if !self.bool(v, &kk)? {
                        return Err(self.unsupported(
                            v.pos,
                            &kk,
                            "per-URL (ungrouped) endpoint metrics are",
                        ));
                    }
                }
                _ => {
                    self.bool(v, &kk)?;
                }
            }
        }
        Ok(o)
    }

    pub(super) fn ensure(&self, node: &Node, key: &str, out: &mut Vec<EnsureCheck>) -> R<()> {
        if matches!(node.value, Value::Null) {
            return Ok(());
        }
        let allowed = [
            "thresholds",
            "conditions",
            "p95",
            "p99",
            "max",
            "min",
            "median",
            "maxErrorRate",
        ];
        for (k, v, _) in self.entries(node, key, &allowed, &[])? {
            let kk = join(key, k);
            match k {
                "thresholds" => {
                    for (i, t) in self.seq(v, &kk)?.iter().enumerate() {
                        let tk = format!("{kk}[{i}]");
                        let entries = self.map(t, &tk)?;
                        if entries.len() != 1 {
                            return Err(self.err(
                                t.pos,
                                &tk,
                                "expected one `metric.name: value` pair",
                            ));
                        }
                        let (mk, mv) = &entries[0];
                        let metric = mk.scalar_text();
                        let value = self.number(mv, &join(&tk, &metric))?;
                        let original = format!("{metric} < {}", fmt_num(value));
                        out.push(EnsureCheck {
                            expr: Expr::Binary(
                                "<",
                                Box::new(Expr::Name(metric)),
                                Box::new(Expr::Num(value)),
                            ),
                            original,
                            kind: EnsureKind::Threshold,
                            strict: true,
                        });
                    }
                }
                "conditions" => {
                    for (i, c) in self.seq(v, &kk)?.iter().enumerate() {
                        let ck = format!("{kk}[{i}]");
                        let mut expression = None;
                        let mut strict = true;
                        for (ek, ev, _) in self.entries(c, &ck, &["expression", "strict"], &[])? {
                            if ek == "expression" {
                                let text = self.string(ev, &join(&ck, ek))?;
                                let expr = Expr::parse(&text)
                                    .map_err(|e| self.err(ev.pos, &join(&ck, ek), e.to_string()))?;
                                expression = Some((text, expr));
                            } else {
                                strict = self.bool(ev, &join(&ck, ek))?;
                            }
                        }
                        let Some((original, expr)) = expression else {
                            return Err(self.err(c.pos, &join(&ck, "expression"), "missing"));
                        };
                        out.push(EnsureCheck {
                            original,
                            kind: EnsureKind::Condition,
                            expr,
                            strict,
                        });
                    }
                }
                "maxErrorRate" => {
                    let value = self.number(v, &kk)?;
                    let text = format!(
                        "((vusers.created - vusers.completed)/vusers.created * 100) <= {}",
                        fmt_num(value)
                    );
                    let expr =
                        Expr::parse(&text.replace('/', " / ")).expect("built-in expression parses");
                    out.push(EnsureCheck {
                        original: format!("maxErrorRate < {}", fmt_num(value)),
                        kind: EnsureKind::Threshold,
                        expr,
                        strict: true,
                    });
                }
                legacy => {
                    let value = self.number(v, &kk)?.trunc();
                    let metric = format!("http.response_time.{legacy}");
                    out.push(EnsureCheck {
                        original: format!("{legacy} < {}", fmt_num(value)),
                        kind: EnsureKind::Threshold,
                        expr: Expr::Binary(
                            "<",
                            Box::new(Expr::Name(metric)),
                            Box::new(Expr::Num(value)),
                        ),
                        strict: true,
                    });
                }
            }
        }
        Ok(())
    }
}
