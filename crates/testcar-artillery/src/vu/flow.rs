//! The flow loop: steps in order, loops and `parallel` as frames on an explicit stack,
//! think times and logs. Requests are handed to `send`.

use rand::Rng;
use serde_json::Value as Json;

use super::{Vu, VuFailure};
use crate::script::model::{LoopOver, Step};
use crate::template::{lookup, parse_path};

/// A list of steps being run: the flow itself, or a loop's body.
struct Frame<'s> {
    steps: &'s [Step],
    /// Index of the next step.
    next: usize,
    /// Set for a loop's body.
    repeat: Option<Repeat>,
}

/// Where a loop stands.
struct Repeat {
    /// The current `$loopCount`.
    i: i64,
    /// Stop before this count; -1 repeats until the VU fails or is cancelled.
    to: i64,
    /// The list of `over`, if any.
    items: Option<Vec<Json>>,
}

impl Repeat {
    /// `$loopElement` of the current iteration.
    fn element(&self) -> Json {
        match &self.items {
            Some(items) => items.get(self.i as usize).cloned().unwrap_or(Json::Null),
            None => Json::from(self.i),
        }
    }
}

impl<'s> Vu<'s> {
    /// Run `steps` with an explicit stack of loop frames rather than recursion: a recursive
    /// async function needs a boxed future per loop iteration, which a tight `loop` of
    /// requests would pay on every request.
    pub(super) async fn steps(&mut self, steps: &'s [Step]) -> Result<(), VuFailure> {
        let mut stack: Vec<Frame<'s>> = vec![Frame {
            steps,
            next: 0,
            repeat: None,
        }];
        while let Some(top) = stack.last_mut() {
            if self.sh.cancel.is_cancelled() {
                return Err(VuFailure::new("ECANCELED"));
            }
            let Some(step) = top.steps.get(top.next) else {
                // The end of a loop's body: start its next iteration, or leave it.
                let again = match &mut top.repeat {
                    Some(rep) => {
                        rep.i += 1;
                        rep.to == -1 || rep.i < rep.to
                    }
                    None => false,
                };
                if !again {
                    // Artillery leaves `$loopCount` one past the last iteration (and
                    // `$loopElement` undefined after `over`) once a loop ends.
                    if let Some(rep) = &top.repeat {
                        let (i, over) = (rep.i, rep.items.is_some());
                        if let Some(v) = self.vars.get_mut("$loopCount") {
                            *v = Json::from(i);
                        }
                        if over {
                            self.vars.remove("$loopElement");
                        }
                    }
                }
                if again {
                    top.next = 0;
                    let rep = top.repeat.as_ref().expect("checked above");
                    let (i, element) = (rep.i, rep.element());
                    self.set_loop_vars(i, element);
                } else {
                    stack.pop();
                }
                continue;
            };
            top.next += 1;
            match step {
                Step::Request(r) => self.request(r).await?,
                Step::WsSend(s) => self.ws_send(s).await?,
                Step::Think(t) => {
                    let d = {
                        let text = t.render(&self.scope()).into_owned();
                        crate::script::think_duration(&text).map_err(VuFailure::new)?
                    };
                    let config = &self.sh.script.config;
                    // The ws engine reads only `defaults.think`.
                    let jitter = if self.ws.is_some() {
                        config.ws_think_jitter
                    } else {
                        config.think_jitter
                    };
                    let d = match jitter {
                        Some(j) => j.apply(d, rand::rng().random::<f64>()),
                        None => d,
                    };
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = self.sh.cancel.cancelled() => return Err(VuFailure::new("ECANCELED")),
                    }
                    self.intended = None;
                }
                Step::Log(t) => {
                    let line = t.render(&self.scope()).into_owned();
                    tracing::info!(target: "artillery::log", "{line}");
                }
                Step::Parallel(steps) => stack.push(Frame {
                    steps,
                    next: 0,
                    repeat: None,
                }),
                Step::Loop(l) => {
                    let items: Option<Vec<Json>> = match &l.over {
                        Some(LoopOver::List(items)) => {
                            let scope = self.scope();
                            Some(items.iter().map(|i| i.render(&scope)).collect())
                        }
                        Some(LoopOver::Var(name)) => {
                            let v = parse_path(name).and_then(|p| lookup(&self.scope(), &p));
                            match v {
                                Some(Json::Array(items)) => Some(items),
                                // Artillery runs no iteration over a non-list.
                                _ => Some(Vec::new()),
                            }
                        }
                        None => None,
                    };
                    let (from, to) = match (&items, &l.count) {
                        (Some(items), _) => (0, items.len() as i64),
                        (None, Some(count)) => loop_range(&count.render(&self.scope())),
                        (None, None) => (0, -1),
                    };
                    if to == -1 || from < to {
                        let rep = Repeat { i: from, to, items };
                        let element = rep.element();
                        self.set_loop_vars(from, element);
                        stack.push(Frame {
                            steps: &l.steps,
                            next: 0,
                            repeat: Some(rep),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) fn set_loop_vars(&mut self, i: i64, element: Json) {
        // Updated in place: no key allocation per iteration.
        match self.vars.get_mut("$loopCount") {
            Some(v) => *v = Json::from(i),
            None => {
                self.vars.insert("$loopCount".into(), Json::from(i));
            }
        }
        match self.vars.get_mut("$loopElement") {
            Some(v) => *v = element,
            None => {
                self.vars.insert("$loopElement".into(), element);
            }
        }
    }
}

/// `count`: a number or an Artillery range `"from-to"`.
fn loop_range(text: &str) -> (i64, i64) {
    let t = text.trim();
    if let Ok(n) = t.parse::<f64>() {
        return (0, n as i64);
    }
    if let Some((a, b)) = t.split_once('-') {
        if let (Ok(a), Ok(b)) = (a.trim().parse(), b.trim().parse()) {
            return (a, b);
        }
    }
    (0, 0)
}
