//! A small line chart as inline SVG: the page stays one self-contained document.

use maud::{html, Markup};

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 140.0;
const PAD: f64 = 28.0;

/// One line of a chart.
pub struct Line<'a> {
    pub label: &'a str,
    pub colour: &'a str,
    pub values: Vec<(f64, f64)>,
}

/// Lines over a shared time axis (x in Unix seconds), scaled to the largest value.
pub fn chart(title: &str, lines: &[Line<'_>]) -> Markup {
    let xs = lines.iter().flat_map(|l| l.values.iter().map(|(x, _)| *x));
    let (x0, x1) = xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let top = lines
        .iter()
        .flat_map(|l| l.values.iter().map(|(_, y)| *y))
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let scale_x = |x: f64| PAD + (x - x0) / (x1 - x0).max(1.0) * (WIDTH - 2.0 * PAD);
    let scale_y = |y: f64| HEIGHT - PAD - y / top * (HEIGHT - 2.0 * PAD);
    html! {
        figure class="chart" {
            figcaption { (title) }
            svg xmlns="http://www.w3.org/2000/svg" width=(WIDTH) height=(HEIGHT)
                viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(title) {
                line x1=(PAD) y1=(HEIGHT - PAD) x2=(WIDTH - PAD) y2=(HEIGHT - PAD) stroke="#999" {}
                text x="2" y=(PAD) font-size="10" { (format_number(top)) }
                text x="2" y=(HEIGHT - PAD) font-size="10" { "0" }
                @for line in lines {
                    polyline fill="none" stroke=(line.colour) stroke-width="1.5"
                        data-series=(line.label)
                        points=(points(&line.values, &scale_x, &scale_y)) {}
                }
            }
            @if lines.iter().all(|l| l.values.is_empty()) {
                p class="muted" { "collecting samples (one every 10 s)" }
            } @else {
                p class="legend" {
                    @for line in lines {
                        span style=(format!("color:{}", line.colour)) { "■ " (line.label) " " }
                    }
                }
            }
        }
    }
}

fn points(values: &[(f64, f64)], x: &dyn Fn(f64) -> f64, y: &dyn Fn(f64) -> f64) -> String {
    values
        .iter()
        .map(|(vx, vy)| format!("{:.1},{:.1}", x(*vx), y(*vy)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// 1234567 -> "1.2M": axis labels stay short.
pub fn format_number(v: f64) -> String {
    match v.abs() {
        a if a >= 1e6 => format!("{:.1}M", v / 1e6),
        a if a >= 1e4 => format!("{:.1}k", v / 1e3),
        a if a.fract() == 0.0 => format!("{v:.0}"),
        _ => format!("{v:.2}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_one_polyline_per_line_inside_the_frame() {
        let svg = chart(
            "lag",
            &[Line {
                label: "consumed lag",
                colour: "#c33",
                values: vec![(0.0, 0.0), (10.0, 50.0), (20.0, 100.0)],
            }],
        )
        .into_string();
        assert_eq!(svg.matches("<polyline").count(), 1);
        // The largest value touches the top margin, the first point sits on the axis.
        assert!(svg.contains("28.0,112.0"), "{svg}");
        assert!(svg.contains("532.0,28.0"), "{svg}");
        assert_eq!(format_number(1_234_567.0), "1.2M");
    }
}
