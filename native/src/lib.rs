//! splitbrain's compiled linearizability engine: `check`, the pairing, partitioning and
//! search of checkers/linearizable (`_prepare.prepare`, `LinearizableChecker._search_all`,
//! `_search.search`) for the models register, cas-register and kv, in one call. The
//! pure-Python engine is the reference; checkers/linearizable/_native.py calls this one when
//! it is built, and falls back to Python whenever this one declines (returns None): a value
//! of a type the port does not handle, or a partition needing more than 128 slots.

mod models;
mod search;

use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyList, PyString, PyTuple};
use pyo3::{intern, IntoPyObjectExt};
use rustc_hash::FxHashMap;

use models::{Kind, Model, Op, Out, F, NIL};
use search::{Entry, Outcome, Verdict, MAX_SLOTS, STRATEGIES};

/// Not handled here: the caller uses the Python engine.
struct Decline;

type Res<T> = Result<T, Decline>;

impl From<PyErr> for Decline {
    fn from(_: PyErr) -> Self {
        Decline
    }
}

/// A scalar as Python compares it: a bool is the int it equals (True == 1), a str never
/// equals an int. Ints beyond 64 bits are declined.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Scalar {
    Nil,
    Int(i64),
    Str(String),
}

fn scalar(v: &Bound<'_, PyAny>) -> Res<Scalar> {
    if v.is_none() {
        Ok(Scalar::Nil)
    } else if let Ok(s) = v.downcast::<PyString>() {
        Ok(Scalar::Str(s.to_str()?.to_owned()))
    } else if v.is_instance_of::<PyInt>() {
        Ok(Scalar::Int(v.extract::<i64>()?)) // bool is an int
    } else {
        Err(Decline)
    }
}

/// Ids for values, by Python's equality: 1 and True are one value, as in the Python
/// engine's comparisons. Scalars only: None, bool, int, str. Id 0 is None.
struct Interner {
    ids: FxHashMap<Scalar, u32>,
}

impl Interner {
    fn new() -> Self {
        let mut ids = FxHashMap::default();
        ids.insert(Scalar::Nil, NIL);
        Interner { ids }
    }

    fn id(&mut self, v: &Bound<'_, PyAny>) -> Res<u32> {
        if v.is_none() {
            return Ok(NIL);
        }
        let k = scalar(v)?;
        let n = self.ids.len() as u32;
        Ok(*self.ids.entry(k).or_insert(n))
    }
}

/// `v` as a list or tuple of two (a frozen pair), or None.
fn pair<'py>(v: &Bound<'py, PyAny>) -> Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    if let Ok(l) = v.downcast::<PyList>() {
        if l.len() == 2 {
            return Some((l.get_item(0).ok()?, l.get_item(1).ok()?));
        }
    } else if let Ok(t) = v.downcast::<PyTuple>() {
        if t.len() == 2 {
            return Some((t.get_item(0).ok()?, t.get_item(1).ok()?));
        }
    }
    None
}

/// A completion's type, as far as the pairing cares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Done {
    Ok,
    Info,
    Fail,
}

struct Pair<'py> {
    inv: Bound<'py, PyAny>,
    f: F,
    ipos: usize,
    comp: Option<(Bound<'py, PyAny>, usize, Done)>,
}

fn text<'a>(v: &'a Bound<'_, PyAny>) -> Res<&'a str> {
    Ok(v.downcast::<PyString>().map_err(|_| Decline)?.to_str()?)
}

/// `_prepare._pairs`: (invocation, position, completion and position) per client op the
/// model knows, in invocation order, failed ones dropped; and the counts.
fn pairs<'py>(
    py: Python<'py>,
    history: &Bound<'py, PyList>,
    fs: &[(&str, F)],
    counts: &mut [u64; 6],
) -> Res<Vec<Pair<'py>>> {
    let mut pending: FxHashMap<Scalar, usize> = FxHashMap::default();
    let mut out: Vec<Pair<'py>> = Vec::with_capacity(history.len() / 2 + 1);
    let known = |f: &str| fs.iter().find(|x| x.0 == f).map(|x| x.1);
    for (pos, op) in history.iter().enumerate() {
        let process = scalar(&op.getattr(intern!(py, "process"))?)?;
        if matches!(&process, Scalar::Str(p) if p == "nemesis") {
            continue;
        }
        let typ = op.getattr(intern!(py, "type"))?;
        let typ = text(&typ)?;
        if typ == "invoke" {
            let f = op.getattr(intern!(py, "f"))?;
            let Some(f) = known(text(&f)?) else {
                counts[1] += 1;
                continue;
            };
            pending.insert(process, out.len());
            out.push(Pair { inv: op, f, ipos: pos, comp: None });
            continue;
        }
        let done = match typ {
            "info" => Done::Info,
            "fail" => Done::Fail,
            _ => Done::Ok,
        };
        let Some(slot) = pending.remove(&process) else {
            let f = op.getattr(intern!(py, "f"))?;
            if known(text(&f)?).is_some() {
                counts[5] += 1;
            }
            continue;
        };
        out[slot].comp = Some((op, pos, done));
    }
    let before = out.len();
    out.retain(|p| !matches!(p.comp, Some((_, _, Done::Fail))));
    counts[2] += (before - out.len()) as u64;
    Ok(out)
}

/// `_prepare._keyed`: whether the op follows Jepsen's `[key, v]` convention.
fn keyed(py: Python<'_>, p: &Pair<'_>) -> Res<bool> {
    let v = p.inv.getattr(intern!(py, "value"))?;
    let Ok(l) = v.downcast::<PyList>() else { return Ok(false) };
    if l.len() != 2 {
        return Ok(false);
    }
    let k = l.get_item(0)?;
    if !(k.is_instance_of::<PyString>() || k.is_instance_of::<PyInt>()) || k.is_instance_of::<PyBool>() {
        return Ok(false);
    }
    if p.f == F::Cas && !l.get_item(1)?.downcast::<PyList>().is_ok_and(|x| x.len() == 2) {
        return Ok(false);
    }
    if let Some((c, _, Done::Ok)) = &p.comp {
        if text(&c.getattr(intern!(py, "type"))?)? == "ok" {
            let cv = c.getattr(intern!(py, "value"))?;
            let Ok(cl) = cv.downcast::<PyList>() else { return Ok(false) };
            if cl.len() != 2 || !cl.get_item(0)?.eq(&k)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

struct Part<'py> {
    key: Bound<'py, PyAny>,
    entries: Vec<Entry>,
}

/// `_prepare.prepare`, with each value as the model's `Op`.
#[allow(clippy::too_many_arguments)]
fn prepare<'py>(
    py: Python<'py>,
    history: &Bound<'py, PyList>,
    kind: Kind,
    model: &mut Model,
    values: &mut Interner,
    independent: Option<bool>,
    fs: &[(&str, F)],
    counts: &mut [u64; 6],
) -> Res<(Vec<Part<'py>>, bool)> {
    let pairs = pairs(py, history, fs, counts)?;
    let independent = match kind {
        Kind::Kv => false,
        _ => match independent {
            Some(i) => i,
            None => {
                let mut all = !pairs.is_empty();
                for p in &pairs {
                    if !keyed(py, p)? {
                        all = false;
                        break;
                    }
                }
                all
            }
        },
    };
    let mut part_of: FxHashMap<Scalar, usize> = FxHashMap::default();
    let mut parts: Vec<Part<'py>> = Vec::new();
    let none = py.None().into_bound(py);
    for p in &pairs {
        let f = p.f;
        let mut value = p.inv.getattr(intern!(py, "value"))?;
        let mut out_value = match &p.comp {
            Some((c, _, _)) => c.getattr(intern!(py, "value"))?,
            None => none.clone(),
        };
        let mut key = none.clone();
        if independent {
            let (k, v) = pair(&value).ok_or(Decline)?;
            key = k;
            value = v;
            if p.comp.is_some() {
                if let Ok(l) = out_value.downcast::<PyList>() {
                    if l.len() == 2 {
                        out_value = l.get_item(1)?;
                    }
                }
            }
        }
        let unknown = !matches!(p.comp, Some((_, _, Done::Ok)));
        let ret = if unknown { None } else { p.comp.as_ref().map(|c| c.1) };
        if unknown && matches!(f, F::Read | F::Get) {
            counts[3] += 1;
            continue;
        }
        if unknown {
            counts[4] += 1;
        }
        let op = match kind {
            Kind::Register { .. } => {
                let out = if unknown {
                    Out::Unknown
                } else if f == F::Cas {
                    let c = &p.comp.as_ref().expect("completed").0;
                    let extra = c.getattr(intern!(py, "extra"))?;
                    let extra = extra.downcast::<PyDict>().map_err(|_| Decline)?;
                    let swapped = match extra.get_item(intern!(py, "result"))? {
                        Some(r) => !(r.is_instance_of::<PyBool>() && !r.is_truthy()?),
                        None => true,
                    };
                    Out::Swapped(swapped)
                } else if f == F::Read {
                    Out::Val(values.id(&out_value)?)
                } else {
                    Out::Val(NIL) // a write's output: never looked at
                };
                match f {
                    F::Read => Op { f, a: NIL, b: 0, out },
                    F::Write => Op { f, a: values.id(&value)?, b: 0, out },
                    F::Cas => {
                        let (x, y) = pair(&value).ok_or(Decline)?;
                        Op { f, a: values.id(&x)?, b: values.id(&y)?, out }
                    }
                    _ => return Err(Decline),
                }
            }
            Kind::Kv => {
                // the value is [key, v]; the partition is the key
                let (k, v) = pair(&value).ok_or(Decline)?;
                key = k;
                match f {
                    F::Get => {
                        let got = pair(&out_value).map(|(_, g)| g);
                        let target = match got {
                            Some(g) if !g.is_none() => model.string(text(&g)?),
                            _ => model.string(""),
                        };
                        Op { f, a: NIL, b: 0, out: if unknown { Out::Unknown } else { Out::Val(target) } }
                    }
                    _ => {
                        let s = if v.is_none() { model.string("") } else { model.string(text(&v)?) };
                        Op { f, a: values.id(&v)?, b: s, out: if unknown { Out::Unknown } else { Out::Val(NIL) } }
                    }
                }
            }
        };
        let k = scalar(&key)?; // a key that is not a scalar: declined
        let n = *part_of.entry(k).or_insert_with(|| {
            parts.push(Part { key: key.clone(), entries: Vec::new() });
            parts.len() - 1
        });
        parts[n].entries.push(Entry { op, call: p.ipos, ret });
    }
    counts[0] = parts.iter().map(|p| p.entries.len() as u64).sum();
    if parts.len() > 1 {
        let mut named: Vec<(String, Part<'py>)> = Vec::with_capacity(parts.len());
        for p in parts {
            named.push((p.key.repr()?.to_str()?.to_owned(), p));
        }
        named.sort_by(|a, b| a.0.cmp(&b.0));
        parts = named.into_iter().map(|x| x.1).collect();
    }
    Ok((parts, independent))
}

/// What one partition ended with: `None` when abandoned (no stats, as in Python).
struct Decided {
    outcome: Option<Outcome>,
    reason: String,
    strategy: usize,
}

/// `LinearizableChecker._search_all`: rounds of growing step limits, each strategy in turn.
#[allow(clippy::too_many_arguments)]
fn search_all(
    model: &mut Model,
    parts: &[Vec<Entry>],
    s0: u32,
    deadline: Instant,
    max_nodes: u64,
    exhaustive: bool,
    first_steps: u64,
    growth: u64,
    budget_reason: &str,
) -> Vec<Decided> {
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by_key(|&n| parts[n].len());
    let mut decided: Vec<Option<Decided>> = (0..parts.len()).map(|_| None).collect();
    let limited = |d: &Option<Decided>| match d {
        None => true,
        Some(d) => matches!(d.outcome, Some(Outcome { verdict: Verdict::Unknown { limited: true, .. }, .. })),
    };
    let mut undecided: Vec<usize> = order.clone();
    let mut limit = first_steps;
    let mut stop: Option<&str> = None;
    'rounds: while !undecided.is_empty() {
        let last_round = limit >= max_nodes;
        for strategy in 0..STRATEGIES.len() {
            let todo: Vec<usize> = undecided.iter().copied().filter(|&n| limited(&decided[n])).collect();
            for n in todo {
                let out = search::search(
                    model,
                    &parts[n],
                    s0,
                    Some(deadline),
                    max_nodes,
                    if last_round { None } else { Some(limit) },
                    strategy,
                );
                let invalid = matches!(out.verdict, Verdict::Invalid);
                let unknown = matches!(out.verdict, Verdict::Unknown { .. });
                let reason = match &out.verdict {
                    Verdict::Unknown { reason, .. } => reason.clone(),
                    _ => String::new(),
                };
                decided[n] = Some(Decided { outcome: Some(out), reason, strategy });
                if invalid && !exhaustive {
                    stop = Some("another partition is invalid");
                    break 'rounds;
                }
                if unknown && Instant::now() > deadline {
                    stop = Some(budget_reason);
                    break 'rounds;
                }
            }
        }
        undecided.retain(|&n| limited(&decided[n]));
        limit = limit.saturating_mul(growth);
    }
    decided
        .into_iter()
        .map(|d| match (stop, d) {
            (Some(why), d) if limited(&d) => Decided {
                outcome: None,
                reason: format!("not searched to the end: {why}"),
                strategy: 0,
            },
            (_, d) => d.expect("every partition decided"),
        })
        .collect()
}

/// Check `history` (a list of `harness.history.Op`) against `model` ("register",
/// "cas-register" or "kv") as `semantics` reads it, from the first state `initial`.
///
/// Returns None when this engine declines (the caller then uses the Python engine), else
/// `(independent, counts, parts)`: counts (ops, ignored, failed, unknown-reads,
/// indeterminate, orphan-completions) and per partition, ordered by the key's repr,
/// `(key, ops, valid, steps, nodes, reason, strategy)`, where valid is True, False or
/// "unknown", steps and nodes None when the partition was abandoned, strategy the index of
/// the strategy that decided it.
#[pyfunction]
#[pyo3(signature = (history, model, semantics, initial, independent, max_nodes, seconds, exhaustive, first_steps, growth, budget_reason))]
#[allow(clippy::too_many_arguments)]
fn check<'py>(
    py: Python<'py>,
    history: &Bound<'py, PyList>,
    model: &str,
    semantics: &str,
    initial: &Bound<'py, PyAny>,
    independent: Option<bool>,
    max_nodes: u64,
    seconds: f64,
    exhaustive: bool,
    first_steps: u64,
    growth: u64,
    budget_reason: &str,
) -> PyResult<Option<PyObject>> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds.max(0.0));
    let knossos = semantics == "knossos";
    let kind = match model {
        "register" | "cas-register" => Kind::Register { knossos },
        "kv" => Kind::Kv,
        _ => return Ok(None),
    };
    let fs: &[(&str, F)] = match model {
        "register" => &[("read", F::Read), ("write", F::Write)],
        "cas-register" => &[("read", F::Read), ("write", F::Write), ("cas", F::Cas)],
        _ => &[("get", F::Get), ("put", F::Put), ("append", F::Append)],
    };
    let mut m = Model::new(kind);
    let mut values = Interner::new();
    let s0 = match kind {
        Kind::Register { .. } => match values.id(initial) {
            Ok(id) => id,
            Err(_) => return Ok(None),
        },
        Kind::Kv => match initial.downcast::<PyString>() {
            Ok(s) => m.string(s.to_str()?),
            Err(_) => return Ok(None),
        },
    };
    let mut counts = [0u64; 6];
    let prepared = prepare(py, history, kind, &mut m, &mut values, independent, fs, &mut counts);
    let Ok((parts, independent)) = prepared else { return Ok(None) };
    if parts.iter().any(|p| search::slots_needed(&p.entries) > MAX_SLOTS) {
        return Ok(None);
    }
    let entries: Vec<Vec<Entry>> = parts.iter().map(|p| p.entries.clone()).collect();
    let decided = py.allow_threads(|| {
        search_all(&mut m, &entries, s0, deadline, max_nodes, exhaustive, first_steps, growth, budget_reason)
    });
    let unknown = intern!(py, "unknown");
    let mut rows: Vec<PyObject> = Vec::with_capacity(parts.len());
    for (p, d) in parts.iter().zip(decided) {
        let valid: PyObject = match d.outcome.as_ref().map(|o| &o.verdict) {
            Some(Verdict::Valid) => true.into_py_any(py)?,
            Some(Verdict::Invalid) => false.into_py_any(py)?,
            _ => unknown.clone().into_any().unbind(),
        };
        let (steps, nodes) = match &d.outcome {
            Some(o) => (Some(o.steps), Some(o.nodes)),
            None => (None, None),
        };
        let row = (p.key.clone(), p.entries.len(), valid, steps, nodes, d.reason, d.strategy);
        rows.push(row.into_py_any(py)?);
    }
    let out = (independent, counts.to_vec(), rows);
    Ok(Some(out.into_py_any(py)?))
}

#[pymodule]
fn splitbrain_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add("MAX_SLOTS", MAX_SLOTS)?;
    Ok(())
}
