//! `report.html`: one self-contained page per run (inline CSS, SVG drawn by inline JS, no
//! network): the scenario, its effective overrides and replay command, an interactive timeline
//! (roles, faults, split brain, failovers, lost writes; zoom and hover), throughput, the
//! Sentinel event log, why writes were lost, and the checks and expectations.

use std::fmt::Write;

use super::files::RunFiles;
use super::narrative::loss_groups;
use super::timeline_data::timeline_data;
use crate::check::Status;
use crate::fact::Fact;

const STYLE: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

/// The most Sentinel events the log lists.
pub const SENTINEL_EVENTS_SHOWN: usize = 2000;

/// `text` escaped for HTML text and attribute values.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Escaped `text` with the narrative's Markdown emphasis (`**bold**`, `` `code` ``) as HTML.
fn inline_markdown(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in escape(text).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
            continue;
        }
        for (j, p) in part.split("**").enumerate() {
            if j % 2 == 1 {
                let _ = write!(out, "<b>{p}</b>");
            } else {
                out.push_str(p);
            }
        }
    }
    out
}

fn header(s: &mut String, f: &RunFiles) {
    let sum = f.summary;
    let overrides = if sum.overrides.is_empty() {
        "<li>none (the file's values)</li>".to_string()
    } else {
        sum.overrides
            .iter()
            .map(|o| format!("<li><code>{}</code></li>", escape(o)))
            .collect()
    };
    let _ = write!(
        s,
        "<header><h1>{} <small>seed {}</small></h1><p class=\"description\">{}</p>\
         <p>Verdict: <b class=\"verdict-{}\">{}</b>; {} simulated seconds, {} events, trace hash \
         <code>{}</code>, scenario hash <code>{}</code>. Operations: {} invoked, {} ok, {} failed, \
         {} indeterminate.</p><h2>Effective configuration</h2><p>Scenario file <code>{}</code>, \
         overrides:</p><ul id=\"overrides\">{overrides}</ul><p>Replay: <code id=\"replay\">{}</code>\
         </p></header>",
        escape(&sum.scenario),
        sum.seed,
        escape(f.description),
        sum.verdict,
        sum.verdict,
        sum.sim_time_ms / 1000,
        sum.events,
        sum.trace_hash,
        sum.scenario_hash,
        sum.ops.invoked,
        sum.ops.ok,
        sum.ops.failed,
        sum.ops.indeterminate,
        escape(&sum.scenario_file),
        escape(&sum.replay_command()),
    );
}

fn sentinel_log(s: &mut String, f: &RunFiles) {
    let events: Vec<_> = f
        .output
        .notes
        .iter()
        .filter(|n| matches!(n.fact, Fact::Sentinel { .. }))
        .collect();
    let _ = write!(
        s,
        "<section><h2>Sentinel event log</h2><p>{} events{}.</p><div class=\"scroll\">\
         <table id=\"sentinel-log\"><tr><th>time</th><th>sentinel</th><th>event</th>\
         <th>detail</th></tr>",
        events.len(),
        if events.len() > SENTINEL_EVENTS_SHOWN {
            format!(" (the first {SENTINEL_EVENTS_SHOWN} shown; trace.jsonl has all)")
        } else {
            String::new()
        }
    );
    for n in events.iter().take(SENTINEL_EVENTS_SHOWN) {
        if let Fact::Sentinel {
            sentinel, subject, ..
        } = &n.fact
        {
            let _ = write!(
                s,
                "<tr class=\"sentinel-event\" data-t=\"{}\"><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td></tr>",
                n.time.as_nanos() as f64 / 1e9,
                n.time,
                escape(sentinel),
                escape(n.fact.kind()),
                escape(&subject.to_string())
            );
        }
    }
    s.push_str("</table></div></section>");
}

fn lost_section(s: &mut String, f: &RunFiles) {
    let _ = write!(
        s,
        "<section><h2>Why writes were lost</h2><p>{} acknowledged writes lost.</p><ul id=\"losses\">",
        f.lost.len()
    );
    for g in loss_groups(f.lost) {
        let text = g.trim_start_matches("- ");
        let _ = write!(s, "<li>{}</li>", inline_markdown(text));
    }
    s.push_str("</ul></section>");
}

fn checks_section(s: &mut String, f: &RunFiles) {
    s.push_str(
        "<section><h2>Checks</h2><table id=\"checks\"><tr><th>check</th><th>status</th>\
         <th>count</th><th>detail</th></tr>",
    );
    for c in &f.summary.checks {
        let status = match c.status {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skipped => "skipped",
        };
        let _ = write!(
            s,
            "<tr class=\"{status}\"><td>{}</td><td>{status}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.name),
            c.count,
            escape(&c.detail)
        );
    }
    s.push_str("</table><h2>Expectations</h2>");
    if f.summary.expectations.is_empty() {
        s.push_str("<p>The scenario states no expectation.</p>");
    } else {
        s.push_str(
            "<table id=\"expectations\"><tr><th>figure</th><th>expected</th><th>actual</th>\
             <th>met</th></tr>",
        );
        for e in &f.summary.expectations {
            let met = if e.met { "yes" } else { "no" };
            let _ = write!(
                s,
                "<tr class=\"met-{met}\"><td>{}</td><td>{}</td><td>{}</td><td>{met}</td></tr>",
                escape(&e.name),
                escape(&e.expected),
                escape(&e.actual)
            );
        }
        s.push_str("</table>");
    }
    s.push_str("</section>");
}

/// The timeline's data as JSON that is safe inside a `<script>` element.
fn data_json(f: &RunFiles) -> String {
    let out = f.output;
    let end_s = out.sim_time.as_nanos() as f64 / 1e9;
    let quiet_s = out.quiet_from.as_nanos() as f64 / 1e9;
    let slot_maps: Vec<_> = out.servers.iter().map(|s| s.slot_owners.clone()).collect();
    let data = timeline_data(
        &out.metrics,
        &out.notes,
        &out.history,
        f.lost,
        &slot_maps,
        (end_s, quiet_s),
    );
    serde_json::to_string(&data)
        .expect("the timeline serialises")
        .replace("</", "<\\/")
}

/// Renders `report.html`.
pub fn report_html(f: &RunFiles) -> String {
    let mut s = String::with_capacity(64 * 1024);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} seed {}</title>\
         <style>{STYLE}</style></head><body>",
        escape(&f.summary.scenario),
        f.summary.seed
    );
    header(&mut s, f);
    s.push_str(
        "<section><h2>Timeline</h2><div class=\"controls\"><button id=\"zoom-in\">zoom in</button>\
         <button id=\"zoom-out\">zoom out</button><button id=\"zoom-reset\">whole run</button>\
         <span id=\"range\"></span> <span class=\"hint\">wheel: zoom around the pointer; drag: \
         pan; hover: details</span></div><div id=\"timeline\"><p id=\"noscript\">The timeline is drawn by the page's script.</p></div><div id=\"legend\"></div>\
         <h2>Throughput per second</h2><div id=\"throughput\"></div></section>",
    );
    lost_section(&mut s, f);
    sentinel_log(&mut s, f);
    let out = f.output;
    let end_s = out.sim_time.as_nanos() as f64 / 1e9;
    let vitals = &f.summary.vitals;
    s.push_str(&super::vitals_report::vitals_html(
        vitals,
        &out.servers,
        &out.metrics,
        end_s,
    ));
    checks_section(&mut s, f);
    let _ = writeln!(
        s,
        "<div id=\"tip\" hidden></div><script type=\"application/json\" id=\"simkv-data\">{}</script>\
         <script>{SCRIPT}</script></body></html>",
        data_json(f)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_emphasis_becomes_html_and_text_is_escaped() {
        assert_eq!(
            inline_markdown("**3 writes** by <p1>: `SET k v`"),
            "<b>3 writes</b> by &lt;p1&gt;: <code>SET k v</code>"
        );
    }
}
