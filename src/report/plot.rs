//! SVG plots of a run: server roles and faults on a timeline, replication lag per replica, and
//! client throughput by outcome. Rendered with plotters' SVG backend (text is emitted as SVG
//! `<text>`, so no font files are needed).

use plotters::prelude::*;

use crate::fact::{Fact, FactNote};
use crate::history::{EventType, History};
use crate::metrics::Metrics;

const WIDTH: u32 = 1000;
const ROW: u32 = 34;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Fault intervals `(start_s, end_s, label)` from the trace's fault facts, a start and its heal
/// matched by the fault's id.
fn fault_spans(notes: &[FactNote], end_s: f64) -> Vec<(f64, f64, String)> {
    let mut open: Vec<(u32, String, f64)> = Vec::new();
    let mut out = Vec::new();
    for n in notes {
        let t = n.time.as_nanos() as f64 / 1e9;
        match &n.fact {
            Fact::FaultStarted { fault } => open.push((fault.id, fault.to_string(), t)),
            Fact::FaultHealed { fault } => {
                if let Some(i) = open.iter().position(|(id, _, _)| *id == fault.id) {
                    let (_, l, s) = open.remove(i);
                    out.push((s, t, l));
                }
            }
            _ => {}
        }
    }
    out.extend(open.into_iter().map(|(_, l, s)| (s, end_s, l)));
    out
}

/// A server's colour on the timeline: down, primary, replica in sync, replica out of sync.
fn role_color(s: &crate::metrics::ServerSample) -> RGBColor {
    if !s.up {
        RGBColor(160, 160, 160)
    } else if s.is_master {
        RGBColor(40, 90, 200)
    } else if s.link_up {
        RGBColor(60, 170, 90)
    } else {
        RGBColor(240, 160, 40)
    }
}

/// The timeline's legend, along its bottom edge.
fn draw_legend(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    height: u32,
) -> Result<(), String> {
    let legend = [
        ("primary", RGBColor(40, 90, 200)),
        ("replica in sync", RGBColor(60, 170, 90)),
        ("replica out of sync", RGBColor(240, 160, 40)),
        ("down or paused", RGBColor(160, 160, 160)),
        ("fault", RGBColor(220, 60, 60)),
    ];
    for (i, (label, color)) in legend.iter().enumerate() {
        let x = 110 + i as i32 * 170;
        let y = height as i32 - 20;
        root.draw(&Rectangle::new([(x, y), (x + 14, y + 12)], color.filled()))
            .map_err(err)?;
        root.draw(&Text::new(*label, (x + 20, y), ("sans-serif", 13)))
            .map_err(err)?;
    }
    Ok(())
}

/// The roles timeline: one row per server (primary, replica in sync, replica out of sync,
/// down), faults as red bands, promotions as markers.
pub fn timeline_svg(metrics: &Metrics, notes: &[FactNote], end_s: f64) -> Result<String, String> {
    let rows = metrics.servers.len() as u32;
    let height = 120 + ROW * (rows + 1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Server roles and faults over simulated seconds",
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(60)
            .y_label_area_size(90)
            .build_cartesian_2d(0f64..end_s.max(1.0), 0f64..(rows as f64 + 1.0))
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .draw()
            .map_err(err)?;
        // Row names, drawn in the label area beside each row.
        let mut labels: Vec<(String, f64)> = vec![("faults".into(), 0.5)];
        for (si, name) in metrics.servers.iter().enumerate() {
            labels.push((name.clone(), (rows as usize - si) as f64));
        }
        for (name, y) in labels {
            let (_, py) = chart.backend_coord(&(0.0, y));
            root.draw(&Text::new(name, (14, py - 7), ("sans-serif", 14)))
                .map_err(err)?;
        }
        for (s, e, _) in fault_spans(notes, end_s) {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(s, 0.15), (e, 0.85)],
                    RGBColor(220, 60, 60).mix(0.6).filled(),
                )))
                .map_err(err)?;
        }
        for (si, _) in metrics.servers.iter().enumerate() {
            let y = (rows as usize - si) as f64;
            for (ti, t) in metrics.times.iter().enumerate() {
                let x0 = t.as_nanos() as f64 / 1e9;
                let x1 = metrics
                    .times
                    .get(ti + 1)
                    .map_or(end_s, |n| n.as_nanos() as f64 / 1e9);
                let color = role_color(&metrics.samples[ti][si]);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x0, y - 0.35), (x1, y + 0.35)],
                        color.filled(),
                    )))
                    .map_err(err)?;
            }
        }
        for n in notes
            .iter()
            .filter(|n| matches!(n.fact, Fact::Promoted { .. }))
        {
            let x = n.time.as_nanos() as f64 / 1e9;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, 0.0), (x, rows as f64 + 1.0)],
                    BLACK.stroke_width(1),
                )))
                .map_err(err)?;
        }
        draw_legend(&root, height)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// One line of a line chart: its legend label, points, colour and stroke width.
pub(super) type Line = (String, Vec<(f64, f64)>, RGBAColor, u32);

/// A line chart over simulated seconds with a legend.
pub(super) fn line_chart(title: &str, end_s: f64, lines: Vec<Line>) -> Result<String, String> {
    let top = lines
        .iter()
        .flat_map(|l| l.1.iter().map(|p| p.1))
        .fold(1.0f64, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..end_s.max(1.0), 0f64..top * 1.1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("simulated seconds")
            .draw()
            .map_err(err)?;
        for (label, pts, color, width) in lines {
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(width)))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Per-second counts as chart points.
fn per_second(counts: &[u64]) -> Vec<(f64, f64)> {
    counts
        .iter()
        .enumerate()
        .map(|(i, c)| (i as f64, *c as f64))
        .collect()
}

/// Replication lag in bytes per replica over time.
pub fn lag_svg(metrics: &Metrics, end_s: f64) -> Result<String, String> {
    let mut lines = Vec::new();
    for (si, name) in metrics.servers.iter().enumerate() {
        let pts: Vec<(f64, f64)> = (0..metrics.times.len())
            .filter(|&t| metrics.samples[t][si].up && !metrics.samples[t][si].is_master)
            .map(|t| {
                let secs = metrics.times[t].as_nanos() as f64 / 1e9;
                (secs, metrics.lag_bytes(t, si) as f64)
            })
            .collect();
        if !pts.is_empty() {
            let color = Palette99::pick(lines.len()).to_rgba();
            lines.push((name.clone(), pts, color, 2));
        }
    }
    line_chart("Replication lag behind the primary (bytes)", end_s, lines)
}

/// Completed operations per second by outcome.
pub fn throughput_svg(history: &History, end_s: f64) -> Result<String, String> {
    let buckets = end_s.ceil().max(1.0) as usize + 1;
    let mut ok = vec![0u64; buckets];
    let mut fail = vec![0u64; buckets];
    let mut info = vec![0u64; buckets];
    for e in &history.events {
        let b = ((e.time_ns / 1_000_000_000) as usize).min(buckets - 1);
        match e.kind {
            EventType::Ok => ok[b] += 1,
            EventType::Fail => fail[b] += 1,
            EventType::Info => info[b] += 1,
            EventType::Invoke => {}
        }
    }
    let lines = vec![
        (
            "ok".to_string(),
            per_second(&ok),
            RGBColor(60, 170, 90).to_rgba(),
            2,
        ),
        (
            "failed".to_string(),
            per_second(&fail),
            RGBColor(220, 60, 60).to_rgba(),
            2,
        ),
        (
            "indeterminate".to_string(),
            per_second(&info),
            RGBColor(240, 160, 40).to_rgba(),
            2,
        ),
    ];
    line_chart("Client operations per second", end_s, lines)
}

/// Acknowledged writes and reads per second, per server that answered them.
pub fn server_throughput_svg(history: &History, end_s: f64) -> Result<String, String> {
    let buckets = end_s.ceil().max(1.0) as usize + 1;
    let mut per: std::collections::BTreeMap<(String, bool), Vec<u64>> = Default::default();
    for e in history.events.iter().filter(|e| e.kind == EventType::Ok) {
        let Some(server) = e.server() else { continue };
        let b = ((e.time_ns / 1_000_000_000) as usize).min(buckets - 1);
        per.entry((server.to_string(), e.f() != "get"))
            .or_insert_with(|| vec![0; buckets])[b] += 1;
    }
    let lines = per
        .into_iter()
        .enumerate()
        .map(|(i, ((server, writes), counts))| {
            let what = if writes { "writes" } else { "reads" };
            let width = if writes { 2 } else { 1 };
            (
                format!("{server} {what}"),
                per_second(&counts),
                Palette99::pick(i).to_rgba(),
                width,
            )
        })
        .collect();
    line_chart(
        "Acknowledged writes and reads per second, by server",
        end_s,
        lines,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::ServerSample;
    use crate::sim::SimTime;

    #[test]
    fn plots_render_to_svg() {
        let mut m = Metrics::new(vec!["p1".into(), "r1".into()]);
        for t in 0..5 {
            let s = |master| ServerSample {
                up: true,
                is_master: master,
                offset: 100 * t,
                link_up: true,
                keys: 1,
                repl_buffer_bytes: Some(20_504),
                output_buffer_bytes: None,
                vitals: Default::default(),
            };
            m.push(SimTime::from_secs(t), vec![s(true), s(false)]);
        }
        let fault = |id| crate::fact::FaultRef {
            id,
            label: "isolate".into(),
            kind: "partition".into(),
            targets: vec!["r1".into()],
            operator: false,
        };
        let at = |s, fact| FactNote {
            time: SimTime::from_secs(s),
            process: u32::MAX,
            fact,
        };
        // Two faults with the same label: each start is matched with its own heal.
        let notes = vec![
            at(1, Fact::FaultStarted { fault: fault(0) }),
            at(2, Fact::FaultStarted { fault: fault(1) }),
            at(3, Fact::FaultHealed { fault: fault(1) }),
            at(4, Fact::FaultHealed { fault: fault(0) }),
        ];
        let t = timeline_svg(&m, &notes, 5.0).unwrap();
        assert!(t.starts_with("<svg") && t.contains("Server roles") && t.contains("p1"));
        assert_eq!(
            fault_spans(&notes, 5.0),
            vec![
                (2.0, 3.0, "isolate of r1".to_string()),
                (1.0, 4.0, "isolate of r1".to_string())
            ]
        );
        assert!(lag_svg(&m, 5.0).unwrap().contains("Replication lag"));
        assert!(
            throughput_svg(&History::default(), 5.0)
                .unwrap()
                .contains("<svg")
        );
        assert!(
            server_throughput_svg(&History::default(), 5.0)
                .unwrap()
                .contains("by server")
        );
    }
}
