//! The report's "Vitals" section: SVG plots of reads and writes per second per server,
//! replication lag in bytes and in seconds and the memory estimate (from the sampled series),
//! and tables of each server's vitals, latency percentiles, slow log and key statistics, for
//! report.md and report.html.

use plotters::prelude::*;

use super::plot::{Line, line_chart};
use super::vitals::{VitalsSummary, human_bytes, human_usec};
use crate::metrics::Metrics;
use crate::world::ServerFinal;

/// Slow log entries shown per server (the newest).
const SLOWLOG_SHOWN: usize = 10;

/// The vitals plots as (file name, title, SVG).
pub fn vitals_svgs(
    m: &Metrics,
    end_s: f64,
) -> Vec<(&'static str, &'static str, Result<String, String>)> {
    vec![
        (
            "vitals_ops.svg",
            "reads and writes per second",
            ops_svg(m, end_s),
        ),
        (
            "vitals_lag_bytes.svg",
            "replication lag (bytes)",
            series_svg(
                m,
                end_s,
                "Replication lag behind its own primary (bytes)",
                |m, t, s| {
                    replica(m, t, s)
                        .then(|| m.own_lag_bytes(t, s))
                        .flatten()
                        .map(|b| b as f64)
                },
            ),
        ),
        (
            "vitals_lag_seconds.svg",
            "replication lag (seconds)",
            series_svg(
                m,
                end_s,
                "Replication lag behind its own primary (seconds)",
                |m, t, s| replica(m, t, s).then(|| m.lag_seconds(t, s)).flatten(),
            ),
        ),
        (
            "vitals_memory.svg",
            "memory",
            series_svg(m, end_s, "used_memory estimate (bytes)", |m, t, s| {
                let x = &m.samples[t][s];
                x.up.then_some(x.vitals.used_memory_bytes)
                    .flatten()
                    .map(|b| b as f64)
            }),
        ),
    ]
}

fn replica(m: &Metrics, t: usize, s: usize) -> bool {
    let x = &m.samples[t][s];
    x.up && !x.is_master
}

fn secs(m: &Metrics, t: usize) -> f64 {
    m.times[t].as_nanos() as f64 / 1e9
}

/// Reads (thin) and writes (thick) per second, one colour per server.
fn ops_svg(m: &Metrics, end_s: f64) -> Result<String, String> {
    let mut lines: Vec<Line> = Vec::new();
    for (s, name) in m.servers.iter().enumerate() {
        let color = Palette99::pick(s).to_rgba();
        for (what, width, field) in [
            (
                "reads",
                1,
                (|v| v.reads) as fn(&crate::metrics::SampledVitals) -> Option<u64>,
            ),
            ("writes", 2, |v| v.writes),
        ] {
            let pts: Vec<(f64, f64)> = (0..m.times.len())
                .filter_map(|t| Some((secs(m, t), m.rate_per_sec(t, s, field)? as f64)))
                .collect();
            if pts.iter().any(|p| p.1 > 0.0) {
                lines.push((format!("{name} {what}"), pts, color, width));
            }
        }
    }
    line_chart(
        "Client reads and writes per second, per server",
        end_s,
        lines,
    )
}

/// One line per server of `value` over the samples where it is defined.
fn series_svg(
    m: &Metrics,
    end_s: f64,
    title: &str,
    value: impl Fn(&Metrics, usize, usize) -> Option<f64>,
) -> Result<String, String> {
    let mut lines: Vec<Line> = Vec::new();
    for (s, name) in m.servers.iter().enumerate() {
        let pts: Vec<(f64, f64)> = (0..m.times.len())
            .filter_map(|t| Some((secs(m, t), value(m, t, s)?)))
            .collect();
        if !pts.is_empty() {
            lines.push((name.clone(), pts, Palette99::pick(s).to_rgba(), 2));
        }
    }
    line_chart(title, end_s, lines)
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("-".to_string(), |v| v.to_string())
}

/// The section's tables as Markdown (report.html renders the same rows).
pub fn vitals_tables(v: &VitalsSummary, finals: &[ServerFinal]) -> Vec<Table> {
    let mut tables = vec![servers_table(v), latency_table(v), slowlog_table(finals)];
    tables.push(keys_table(v));
    tables
}

/// A titled table.
pub struct Table {
    /// What it shows.
    pub title: String,
    /// Column names.
    pub head: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<String>>,
}

fn strings(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

fn servers_table(v: &VitalsSummary) -> Table {
    let head = strings(&[
        "server",
        "role",
        "reads",
        "writes",
        "replicated",
        "hits",
        "misses",
        "clients (max)",
        "memory (peak)",
        "lag (max)",
        "lag s (max)",
        "fsync lag (max)",
        "slow log",
    ]);
    let rows = v
        .servers
        .iter()
        .map(|s| {
            let t = &s.totals;
            vec![
                s.server.clone(),
                s.role.clone(),
                t.reads.to_string(),
                t.writes.to_string(),
                t.replicated.to_string(),
                t.keyspace_hits.to_string(),
                t.keyspace_misses.to_string(),
                opt(s.connected_clients_max),
                s.used_memory_peak_bytes.map_or("-".into(), human_bytes),
                s.lag_bytes_max.map_or("-".into(), human_bytes),
                s.lag_s_max.map_or("-".into(), |l| format!("{l:.3}")),
                s.fsync_lag_bytes_max.map_or("-".into(), human_bytes),
                format!("{} logged, {} kept", t.slowlog_logged, s.slowlog_kept),
            ]
        })
        .collect();
    Table {
        title: "Per server over the run".into(),
        head,
        rows,
    }
}

fn latency_table(v: &VitalsSummary) -> Table {
    let mut rows = Vec::new();
    for s in &v.servers {
        for (cmd, l) in &s.totals.latency_percentiles_usec {
            rows.push(vec![
                s.server.clone(),
                cmd.to_uppercase(),
                l.calls.to_string(),
                human_usec(l.usec.p50),
                human_usec(l.usec.p99),
                human_usec(l.usec.p999),
            ]);
        }
    }
    for (w, per) in &v.client_latency_us {
        for (cmd, l) in per {
            rows.push(vec![
                format!("clients of {w}"),
                cmd.to_uppercase(),
                l.count.to_string(),
                human_usec(l.p50 as f64),
                human_usec(l.p99 as f64),
                human_usec(l.p999 as f64),
            ]);
        }
    }
    Table {
        title: "Latency: server-side (INFO latencystats) and as clients saw it".into(),
        head: strings(&["where", "command", "calls", "p50", "p99", "p99.9"]),
        rows,
    }
}

fn slowlog_table(finals: &[ServerFinal]) -> Table {
    let mut rows = Vec::new();
    for f in finals {
        for e in f.vitals.slowlog.iter().take(SLOWLOG_SHOWN) {
            rows.push(vec![
                f.name.clone(),
                e.id.to_string(),
                format!("{:.3} s", e.time_ms as f64 / 1000.0),
                human_usec(e.duration_us as f64),
                e.command.join(" "),
            ]);
        }
    }
    Table {
        title: format!("Slow log (the newest {SLOWLOG_SHOWN} per server)"),
        head: strings(&["server", "id", "at", "duration", "command"]),
        rows,
    }
}

fn keys_table(v: &VitalsSummary) -> Table {
    let k = &v.keys;
    let mut rows = vec![
        vec!["keys written".into(), k.written.to_string()],
        vec![
            "written, never read".into(),
            k.written_never_read.to_string(),
        ],
        vec![
            "oldest unread write".into(),
            k.oldest_unread_write.as_ref().map_or("-".into(), |o| {
                format!("{} at {:.3} s", o.key, o.time_ms as f64 / 1000.0)
            }),
        ],
    ];
    for (i, h) in k.hottest.iter().enumerate() {
        rows.push(vec![
            format!("hottest #{}", i + 1),
            format!("{} ({} ops)", h.key, h.ops),
        ]);
    }
    Table {
        title: "Keys (from the history)".into(),
        head: strings(&["figure", "value"]),
        rows,
    }
}

/// Markdown of a table (`|` in cells escaped).
pub fn markdown_table(t: &Table) -> String {
    let esc = |c: &String| c.replace('|', "\\|");
    let mut s = format!("### {}\n\n", t.title);
    if t.rows.is_empty() {
        s.push_str("None.\n\n");
        return s;
    }
    s.push_str(&format!(
        "| {} |\n",
        t.head.iter().map(esc).collect::<Vec<_>>().join(" | ")
    ));
    s.push_str(&format!("|{}\n", "---|".repeat(t.head.len())));
    for r in &t.rows {
        s.push_str(&format!(
            "| {} |\n",
            r.iter().map(esc).collect::<Vec<_>>().join(" | ")
        ));
    }
    s.push('\n');
    s
}

/// The whole section in Markdown: tables, then the plots by file name.
pub fn vitals_markdown(v: &VitalsSummary, finals: &[ServerFinal]) -> String {
    let mut s = String::from(
        "\n## Vitals\n\nWhat INFO and SLOWLOG GET would have shown, per server and second \
         (vitals.csv). Rates are client commands; a replica's applied stream is `replicated`. \
         The model spends no time running a command, so server-side latency is the time a \
         command was blocked (WAIT, WAITAOF).\n\n",
    );
    for t in vitals_tables(v, finals) {
        s.push_str(&markdown_table(&t));
    }
    s.push_str(
        "![reads and writes per second](vitals_ops.svg)\n\n\
         ![replication lag in bytes](vitals_lag_bytes.svg)\n\n\
         ![replication lag in seconds](vitals_lag_seconds.svg)\n\n\
         ![memory](vitals_memory.svg)\n",
    );
    s
}

/// The section in report.html: the same tables, and the plots inline (the page stays
/// self-contained).
pub fn vitals_html(v: &VitalsSummary, finals: &[ServerFinal], m: &Metrics, end_s: f64) -> String {
    use super::html::escape;
    let mut s = String::from("<section><h2>Vitals</h2>");
    for t in vitals_tables(v, finals) {
        s.push_str(&format!("<h3>{}</h3>", escape(&t.title)));
        if t.rows.is_empty() {
            s.push_str("<p>None.</p>");
            continue;
        }
        s.push_str("<div class=\"scroll\"><table><tr>");
        for h in &t.head {
            s.push_str(&format!("<th>{}</th>", escape(h)));
        }
        s.push_str("</tr>");
        for r in &t.rows {
            s.push_str("<tr>");
            for c in r {
                s.push_str(&format!("<td>{}</td>", escape(c)));
            }
            s.push_str("</tr>");
        }
        s.push_str("</table></div>");
    }
    for (_, title, svg) in vitals_svgs(m, end_s) {
        if let Ok(svg) = svg {
            s.push_str(&format!(
                "<figure><figcaption>{title}</figcaption>{svg}</figure>"
            ));
        }
    }
    s.push_str("</section>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_escape_pipes_and_say_none() {
        let t = Table {
            title: "T".into(),
            head: strings(&["a"]),
            rows: vec![vec!["x|y".into()]],
        };
        assert_eq!(markdown_table(&t), "### T\n\n| a |\n|---|\n| x\\|y |\n\n");
        let empty = Table { rows: vec![], ..t };
        assert!(markdown_table(&empty).ends_with("None.\n\n"));
    }
}
