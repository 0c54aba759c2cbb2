//! Regions and the network: region names, intra- and inter-region paths.

use super::*;

pub(super) fn regions(cx: &mut Cx, root: &Table) -> Vec<String> {
    let Some(e) = root.get("regions") else {
        return vec!["local".to_string()];
    };
    let Val::Array(items) = &e.node.val else {
        cx.err(
            e.node.origin,
            "regions",
            format!(
                "expected an array of region names, found {}",
                e.node.val.type_name()
            ),
            Some("write e.g. regions = [\"us-west\", \"us-east\"]".into()),
        );
        return vec!["local".to_string()];
    };
    let mut out: Vec<String> = Vec::new();
    for (i, n) in items.iter().enumerate() {
        let path = format!("regions[{i}]");
        if let Some(s) = cx.string(n, &path) {
            cx.check_name(n.origin, &path, s);
            if out.iter().any(|r| r == s) {
                cx.err(
                    n.origin,
                    &path,
                    format!("region \"{s}\" is listed twice"),
                    None,
                );
            }
            out.push(s.to_string());
        }
    }
    if out.is_empty() {
        cx.err(
            e.node.origin,
            "regions",
            "the list of regions is empty".into(),
            Some("name at least one region, or leave `regions` out for a single region".into()),
        );
        out.push("local".into());
    }
    out
}

pub(super) fn region_index(
    cx: &mut Cx,
    node: &Node,
    path: &str,
    regions: &[String],
) -> Option<usize> {
    let s = cx.string(node, path)?;
    match regions.iter().position(|r| r == s) {
        Some(i) => Some(i),
        None => {
            let hint = match did_you_mean(s, regions.iter().map(String::as_str)) {
                Some(m) => format!("did you mean \"{m}\"?"),
                None => format!("known regions: {}", regions.join(", ")),
            };
            cx.err(
                node.origin,
                path,
                format!("unknown region \"{s}\""),
                Some(hint),
            );
            None
        }
    }
}

/// The `region` of a server or sentinel: required when there are several regions.
pub(super) fn member_region(
    cx: &mut Cx,
    t: &Table,
    origin: Origin,
    path: &str,
    regions: &[String],
) -> usize {
    match t.get("region") {
        Some(r) => region_index(cx, &r.node, &join(path, "region"), regions).unwrap_or(0),
        None if regions.len() == 1 => 0,
        None => {
            cx.err(
                origin,
                &join(path, "region"),
                "missing `region`".into(),
                Some(format!("known regions: {}", regions.join(", "))),
            );
            0
        }
    }
}

pub(super) fn path_spec(cx: &mut Cx, t: &Table, path: &str, base: PathSpec) -> PathSpec {
    let mut spec = base;
    if let Some(e) = t.get("latency")
        && let Some(v) = cx.duration(&e.node, &join(path, "latency"), 1_000_000)
    {
        spec.latency_ns = v;
    }
    if let Some(e) = t.get("jitter")
        && let Some(v) = cx.duration(&e.node, &join(path, "jitter"), 1_000_000)
    {
        spec.jitter_ns = v;
    }
    if let Some(e) = t.get("bandwidth") {
        let p = join(path, "bandwidth");
        if let Some(s) = cx.string(&e.node, &p) {
            let text = s.trim_end_matches("/s");
            match parse_size(text) {
                Ok(0) | Err(_) => cx.err(
                    e.node.origin,
                    &p,
                    format!("\"{s}\" is not a bandwidth"),
                    Some("write bytes per second, e.g. \"100mb/s\"".into()),
                ),
                Ok(v) => spec.bandwidth_bytes_per_sec = v,
            }
        }
    }
    spec
}

pub(super) fn network(cx: &mut Cx, root: &Table, regions: &[String]) -> Topology {
    let intra = PathSpec {
        latency_ns: 250_000,
        jitter_ns: 50_000,
        bandwidth_bytes_per_sec: 1_250_000_000,
    };
    let inter_default = PathSpec {
        latency_ns: 30_000_000,
        jitter_ns: 1_000_000,
        bandwidth_bytes_per_sec: 100 * 1024 * 1024,
    };
    let mut topo = Topology::new(regions.to_vec(), inter_default);
    let Some(e) = root.get("network") else {
        for i in 0..regions.len() {
            topo.set_path(i, i, intra);
        }
        return topo;
    };
    let Some(t) = cx.table(e, "network") else {
        return topo;
    };
    cx.check_keys(t, "network", &["latency", "jitter", "bandwidth", "paths"]);
    let intra = path_spec(cx, t, "network", intra);
    for i in 0..regions.len() {
        topo.set_path(i, i, intra);
    }
    if let Some(p) = t.get("paths") {
        paths(cx, p, regions, inter_default, &mut topo);
    }
    topo
}

/// `[[network.paths]]`: paths between pairs of regions.
fn paths(cx: &mut Cx, p: &Entry, regions: &[String], inter_default: PathSpec, topo: &mut Topology) {
    let Val::Array(items) = &p.node.val else {
        cx.err(
            p.node.origin,
            "network.paths",
            "expected an array of tables ([[network.paths]])".into(),
            None,
        );
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let path = format!("network.paths[{i}]");
        let Val::Table(pt) = &item.val else {
            cx.err(item.origin, &path, "expected a table".into(), None);
            continue;
        };
        cx.check_keys(pt, &path, &["between", "latency", "jitter", "bandwidth"]);
        let spec = path_spec(cx, pt, &path, inter_default);
        let Some(b) = pt.get("between") else {
            cx.err(
                item.origin,
                &path,
                "missing `between`".into(),
                Some("write between = [\"region-a\", \"region-b\"]".into()),
            );
            continue;
        };
        let ends: Vec<usize> = match &b.node.val {
            Val::Array(xs) if xs.len() == 2 => xs
                .iter()
                .filter_map(|x| region_index(cx, x, &join(&path, "between"), regions))
                .collect(),
            _ => {
                cx.err(
                    b.node.origin,
                    &join(&path, "between"),
                    "expected two region names".into(),
                    None,
                );
                continue;
            }
        };
        if let [a, b] = ends[..] {
            topo.set_path(a, b, spec);
        }
    }
}
