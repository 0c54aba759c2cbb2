//! Bar charts for comparisons: one bar per variant, its value written above it. Rendered with
//! plotters' SVG backend, like the run's plots.

use plotters::prelude::*;

const WIDTH: u32 = 900;
const HEIGHT: u32 = 420;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// An SVG bar chart titled `title`: one bar per `(label, value)`, the axis in `unit`.
pub fn bar_chart_svg(title: &str, unit: &str, bars: &[(String, f64)]) -> Result<String, String> {
    let top = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(1.0) * 1.15;
    let n = bars.len().max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..n as f64, 0f64..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc(unit)
            .draw()
            .map_err(err)?;
        for (i, (label, value)) in bars.iter().enumerate() {
            let x = i as f64;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x + 0.15, 0.0), (x + 0.85, *value)],
                    RGBColor(40, 90, 200).filled(),
                )))
                .map_err(err)?;
            let (px, py) = chart.backend_coord(&(x + 0.15, *value));
            root.draw(&Text::new(
                format!("{value}"),
                (px, py - 16),
                ("sans-serif", 13),
            ))
            .map_err(err)?;
            let (lx, ly) = chart.backend_coord(&(x + 0.15, 0.0));
            root.draw(&Text::new(label.clone(), (lx, ly + 8), ("sans-serif", 12)))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bar_per_variant_with_its_label() {
        let bars = vec![("a=1".to_string(), 3.0), ("a=2".to_string(), 7.0)];
        let svg = bar_chart_svg("Lost", "writes", &bars).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("a=1") && svg.contains("a=2") && svg.contains("\n7\n"));
        assert_eq!(svg.matches("fill=\"#285AC8\"").count(), 2, "one bar each");
    }
}
