//! Shrinking: reduce a failing run to a smaller scenario that still fails the same way (one of
//! the expectations it failed still fails, on the same seed). Greedy, in passes: drop the random
//! nemesis, drop scheduled faults one at a time, halve what remains of each fault's duration, and
//! halve the clients of each workload, keeping every change after which the run still fails.
//! The result is a scenario file of its own: named `<name>-shrunk`, with the failing seed as its
//! `seed` and its times in human units, so `simkv run` on it replays the failure.

use std::path::{Path, PathBuf};

use crate::report::{human_duration, shell_quote, write_atomic};
use crate::runner::run_scenario;
use crate::scenario::Scenario;
use crate::scenario::tree::{Entry, Node, Table, Val, to_toml};

/// What shrinking produced.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The smaller scenario, as TOML text.
    pub text: String,
    /// The expectations that failed originally.
    pub failing: Vec<String>,
    /// What was removed or reduced, in order.
    pub steps: Vec<String>,
    /// Runs it took.
    pub runs: usize,
}

/// The expectations a scenario text fails on `seed` (empty when it passes or does not parse).
fn unmet(text: &str, seed: u64) -> Vec<String> {
    let Ok(s) = Scenario::parse("shrink candidate", text, &[]) else {
        return Vec::new();
    };
    match run_scenario(&s, seed, &mut |_| {}, &mut |_| {}, &mut || 0) {
        Ok(r) => r
            .summary
            .expectations
            .iter()
            .filter(|e| !e.met)
            .map(|e| e.name.clone())
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn get_mut<'a>(t: &'a mut Table, key: &str) -> Option<&'a mut Node> {
    t.entries
        .iter_mut()
        .find(|e| e.key == key)
        .map(|e: &mut Entry| &mut e.node)
}

fn node(val: Val) -> Node {
    Node {
        origin: crate::scenario::Origin::Whole,
        val,
    }
}

fn strings(names: &[String]) -> Val {
    Val::Array(names.iter().map(|n| node(Val::Str(n.clone()))).collect())
}

/// A fault the nemesis drew, written as a scheduled `[[faults]]` table.
fn fault_table(f: &crate::fault::FaultSpec) -> Option<Table> {
    use crate::fault::FaultKind;
    let kind = f.label.strip_prefix("nemesis ")?.to_string();
    let mut t = Table::default();
    let mut put = |k: &str, v: Val| {
        t.set_path(&[k], node(v)).expect("a fresh table");
    };
    put("kind", Val::Str(kind));
    put("at", Val::Str(human_duration(f.at_ns)));
    if let Some(h) = f.heal_ns {
        put("heal", Val::Str(human_duration(h)));
    }
    match &f.kind {
        FaultKind::Partition { .. } if f.label == "nemesis partition" => {
            let mut sides = f.targets.split(|x| x == "|");
            let a = sides.next()?.to_vec();
            let b = sides.next()?.to_vec();
            put(
                "between",
                Val::Array(vec![node(strings(&a)), node(strings(&b))]),
            );
        }
        FaultKind::Loss { ppm, .. } => {
            put("targets", strings(&f.targets));
            put("rate", Val::Str(format!("{}", f64::from(*ppm) / 1e6)));
        }
        FaultKind::Latency { extra_ns, .. } => {
            put("targets", strings(&f.targets));
            put("extra", Val::Str(human_duration(*extra_ns)));
        }
        FaultKind::Clock { jump_ns, .. } => {
            put("targets", strings(&f.targets));
            put("jump", Val::Str(signed_duration(*jump_ns)));
        }
        _ => put("targets", strings(&f.targets)),
    }
    Some(t)
}

/// A clock jump in human units (`-1.5s`).
fn signed_duration(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    format!("{sign}{}", human_duration(ns.unsigned_abs()))
}

/// The tree with the nemesis replaced by the faults it drew for `seed`, as scheduled faults.
fn materialize_nemesis(root: &Table, seed: u64) -> Option<Table> {
    root.get("nemesis")?;
    let s = Scenario::parse("shrink candidate", &to_toml(root), &[]).ok()?;
    let world = crate::world::World::new(&s, seed);
    let drawn: Vec<Table> = world
        .faults()
        .iter()
        .filter(|f| f.label.starts_with("nemesis "))
        .map(fault_table)
        .collect::<Option<Vec<Table>>>()?;
    let mut t = root.clone();
    t.entries.retain(|e| e.key != "nemesis");
    let mut faults: Vec<Node> = match t.get("faults") {
        Some(Entry {
            node: Node {
                val: Val::Array(existing),
                ..
            },
            ..
        }) => existing.clone(),
        _ => Vec::new(),
    };
    faults.extend(drawn.into_iter().map(|d| node(Val::Table(d))));
    t.entries.retain(|e| e.key != "faults");
    t.set_path(&["faults"], node(Val::Array(faults))).ok()?;
    Some(t)
}

/// Candidate edits of the tree, each with a description.
fn candidates(root: &Table, seed: u64) -> Vec<(String, Table)> {
    let mut out = Vec::new();
    if let Some(t) = materialize_nemesis(root, seed) {
        out.push((
            "wrote the nemesis's faults out as scheduled faults".to_string(),
            t,
        ));
    }
    if root.get("nemesis").is_some() {
        let mut t = root.clone();
        t.entries.retain(|e| e.key != "nemesis");
        out.push(("removed the random nemesis".to_string(), t));
    }
    out.extend(fault_candidates(root));
    out.extend(client_candidates(root));
    out
}

/// Removing each scheduled fault, and halving each one's duration.
fn fault_candidates(root: &Table) -> Vec<(String, Table)> {
    let mut out = Vec::new();
    if let Some(Entry {
        node: Node {
            val: Val::Array(faults),
            ..
        },
        ..
    }) = root.get("faults")
    {
        for i in 0..faults.len() {
            let mut t = root.clone();
            if let Some(Node {
                val: Val::Array(f), ..
            }) = get_mut(&mut t, "faults")
            {
                let removed = f.remove(i);
                let kind = match &removed.val {
                    Val::Table(ft) => ft.get("kind").map_or(String::new(), |k| match &k.node.val {
                        Val::Str(s) => s.clone(),
                        _ => String::new(),
                    }),
                    _ => String::new(),
                };
                if f.is_empty() {
                    t.entries.retain(|e| e.key != "faults");
                }
                out.push((format!("removed fault {i} ({kind})"), t));
            }
        }
        for i in 0..faults.len() {
            if let Some(t) = halve_fault(root, i) {
                out.push((format!("halved the duration of fault {i}"), t));
            }
        }
    }
    out
}

/// Halving the clients of each workload that has more than one.
fn client_candidates(root: &Table) -> Vec<(String, Table)> {
    let mut out = Vec::new();
    if let Some(Entry {
        node: Node {
            val: Val::Table(ws),
            ..
        },
        ..
    }) = root.get("workloads")
    {
        for w in &ws.entries {
            let Val::Table(wt) = &w.node.val else {
                continue;
            };
            let clients = match wt.get("clients").map(|c| &c.node.val) {
                Some(Val::Int(n)) => *n,
                _ => 1,
            };
            if clients > 1 {
                let mut t = root.clone();
                if let Some(Node {
                    val: Val::Table(ws2),
                    ..
                }) = get_mut(&mut t, "workloads")
                    && let Some(Node {
                        val: Val::Table(wt2),
                        origin,
                    }) = get_mut(ws2, &w.key)
                {
                    let origin = *origin;
                    wt2.set_path(
                        &["clients"],
                        Node {
                            origin,
                            val: Val::Int(clients / 2),
                        },
                    )
                    .expect("clients is a plain key");
                    out.push((format!("halved the clients of workload {}", w.key), t));
                }
            }
        }
    }
    out
}

/// The tree with fault `i`'s heal (or `for`) moved to half its duration.
fn halve_fault(root: &Table, i: usize) -> Option<Table> {
    let Some(Entry {
        node: Node {
            val: Val::Array(faults),
            ..
        },
        ..
    }) = root.get("faults")
    else {
        return None;
    };
    let Val::Table(f) = &faults.get(i)?.val else {
        return None;
    };
    let text = |k: &str| match f.get(k).map(|e| &e.node.val) {
        Some(Val::Str(s)) => crate::scenario::parse_duration(s).ok(),
        Some(Val::Int(n)) => Some(*n as u64 * 1_000_000_000),
        _ => None,
    };
    let at = text("at")?;
    let (key, len) = match (text("heal"), text("for")) {
        (Some(h), _) => ("heal", h.checked_sub(at)?),
        (None, Some(d)) => ("for", d),
        _ => return None,
    };
    if len < 2_000_000 {
        return None;
    }
    let half = len / 2;
    let new = if key == "heal" { at + half } else { half };
    let mut t = root.clone();
    if let Some(Node {
        val: Val::Array(fs),
        ..
    }) = get_mut(&mut t, "faults")
        && let Val::Table(ft) = &mut fs[i].val
    {
        let origin = ft.get(key).map(|e| e.node.origin)?;
        ft.set_path(
            &[key],
            Node {
                origin,
                val: Val::Str(format!("{}ms", new / 1_000_000)),
            },
        )
        .ok()?;
    }
    Some(t)
}

/// The tree renamed `<name>-shrunk`, with `seed` as its default seed.
fn pinned(root: &Table, seed: u64) -> Table {
    let mut t = root.clone();
    let name = match t.get("name").map(|e| &e.node.val) {
        Some(Val::Str(n)) => format!("{n}-shrunk"),
        _ => "shrunk".to_string(),
    };
    t.set_path(&["name"], node(Val::Str(name)))
        .expect("name is a plain key");
    if let Ok(seed) = i64::try_from(seed) {
        t.set_path(&["seed"], node(Val::Int(seed)))
            .expect("seed is a plain key");
    }
    t
}

/// Where `simkv shrink FILE` writes by default: `<stem>-shrunk.toml` in the current folder.
pub fn default_target(file: &Path) -> PathBuf {
    let stem = file
        .file_stem()
        .map_or("scenario".into(), |s| s.to_string_lossy().to_string());
    PathBuf::from(format!("{stem}-shrunk.toml"))
}

/// The shrunk scenario file: a header saying how it was made and what it still fails, then the
/// scenario (which carries the failing seed).
pub fn file_text(label: &str, overrides: &[String], seed: u64, result: &Shrunk) -> String {
    let sets: String = overrides
        .iter()
        .map(|o| format!(" --set {}", shell_quote(o)))
        .collect();
    let mut text = format!(
        "# Shrunk by `simkv shrink {}{sets} --seed {seed}`: still fails {} on seed {seed}.\n",
        shell_quote(label),
        result.failing.join(", ")
    );
    for s in &result.steps {
        text.push_str(&format!("# - {s}\n"));
    }
    text.push_str(&result.text);
    text
}

/// Writes the shrunk scenario to `target`, refusing to replace an existing file unless `force`.
pub fn write(target: &Path, text: &str, force: bool) -> Result<(), String> {
    if target.exists() && !force {
        return Err(format!(
            "{} exists; pass --force to replace it, or --out to write elsewhere",
            target.display()
        ));
    }
    write_atomic(target, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", target.display()))
}

/// Shrinks the scenario `source` (with `overrides` applied) on `seed`, within `max_runs` runs.
pub fn shrink(
    file: &str,
    source: &str,
    overrides: &[String],
    seed: u64,
    max_runs: usize,
) -> Result<Shrunk, String> {
    let (mut root, _) = Scenario::tree(file, source, overrides).map_err(|e| e.to_string())?;
    let failing = unmet(&to_toml(&root), seed);
    if failing.is_empty() {
        return Err(format!(
            "seed {seed} passes every expectation: there is nothing to shrink"
        ));
    }
    let mut steps = Vec::new();
    let mut runs = 1;
    let mut progress = true;
    while progress && runs < max_runs {
        progress = false;
        for (what, candidate) in candidates(&root, seed) {
            if runs >= max_runs {
                break;
            }
            runs += 1;
            let still = unmet(&to_toml(&candidate), seed);
            if still.iter().any(|u| failing.contains(u)) {
                steps.push(what);
                root = candidate;
                progress = true;
                break;
            }
        }
    }
    Ok(Shrunk {
        text: to_toml(&pinned(&root, seed)),
        failing,
        steps,
        runs,
    })
}
