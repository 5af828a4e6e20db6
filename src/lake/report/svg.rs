//! Inline SVG charts drawn here, so the HTML report needs no script or external asset.
//! No `xmlns`: SVG inside HTML5 does not need it, and the page then names no URL at all.

use std::fmt::Write;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 56.0;
const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f",
];
/// At most this many x labels are written; the others are skipped evenly.
const MAX_X_LABELS: usize = 12;

pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// 1234567 -> "1.2M": axis labels stay short.
fn short(value: f64) -> String {
    let abs = value.abs();
    let (scaled, unit) = match abs {
        a if a >= 1e12 => (value / 1e12, "T"),
        a if a >= 1e9 => (value / 1e9, "G"),
        a if a >= 1e6 => (value / 1e6, "M"),
        a if a >= 1e3 => (value / 1e3, "k"),
        _ => (value, ""),
    };
    if unit.is_empty() {
        if abs < 10.0 && value.fract() != 0.0 {
            format!("{value:.2}")
        } else {
            format!("{value:.0}")
        }
    } else if scaled.fract() == 0.0 {
        format!("{scaled:.0}{unit}")
    } else {
        format!("{scaled:.1}{unit}")
    }
}

/// Plot area and value scale shared by the vertical charts.
struct Frame {
    out: String,
    min: f64,
    max: f64,
}

impl Frame {
    fn new(title: &str, min: f64, max: f64) -> Frame {
        let max = if max > min { max } else { min + 1.0 };
        let mut frame = Frame {
            out: String::new(),
            min,
            max,
        };
        let _ = write!(
            frame.out,
            r#"<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img"><title>{t}</title><text x="{LEFT}" y="20" font-size="14" font-weight="bold">{t}</text>"#,
            t = escape(title)
        );
        for i in 0..=4 {
            let value = min + (max - min) * f64::from(i) / 4.0;
            let y = frame.y(value);
            let _ = write!(
                frame.out,
                r##"<line x1="{LEFT}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{tx}" y="{ty:.1}" font-size="11" text-anchor="end">{label}</text>"##,
                x2 = WIDTH - RIGHT,
                tx = LEFT - 6.0,
                ty = y + 4.0,
                label = short(value)
            );
        }
        frame
    }

    fn y(&self, value: f64) -> f64 {
        let plot = HEIGHT - TOP - BOTTOM;
        TOP + plot * (1.0 - (value - self.min) / (self.max - self.min))
    }

    fn x_labels(&mut self, labels: &[String], slot: f64) {
        let every = labels.len().div_ceil(MAX_X_LABELS).max(1);
        for (i, label) in labels.iter().enumerate().step_by(every) {
            let _ = write!(
                self.out,
                r#"<text x="{x:.1}" y="{y}" font-size="11" text-anchor="middle">{l}</text>"#,
                x = LEFT + slot * (i as f64 + 0.5),
                y = HEIGHT - BOTTOM + 16.0,
                l = escape(label)
            );
        }
    }

    fn legend(&mut self, series: &[Series]) {
        let mut x = LEFT;
        for (i, s) in series.iter().enumerate() {
            let _ = write!(
                self.out,
                r#"<rect x="{x:.1}" y="{y}" width="10" height="10" fill="{c}"/><text x="{tx:.1}" y="{ty}" font-size="11">{n}</text>"#,
                y = HEIGHT - 22.0,
                c = PALETTE[i % PALETTE.len()],
                tx = x + 14.0,
                ty = HEIGHT - 13.0,
                n = escape(&s.name)
            );
            x += 24.0 + 7.0 * s.name.chars().count() as f64;
        }
    }

    fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}

fn slot(labels: &[String]) -> f64 {
    (WIDTH - LEFT - RIGHT) / labels.len().max(1) as f64
}

/// One bar per label, its series stacked.
pub fn stacked_bars(title: &str, labels: &[String], series: &[Series]) -> String {
    let totals: Vec<f64> = (0..labels.len())
        .map(|i| series.iter().map(|s| s.values[i]).sum())
        .collect();
    let mut frame = Frame::new(title, 0.0, totals.iter().copied().fold(0.0, f64::max));
    let slot = slot(labels);
    for (i, label) in labels.iter().enumerate() {
        let mut base = 0.0;
        for (k, s) in series.iter().enumerate() {
            let (top, bottom) = (frame.y(base + s.values[i]), frame.y(base));
            let _ = write!(
                frame.out,
                r#"<rect x="{x:.1}" y="{top:.1}" width="{w:.1}" height="{h:.1}" fill="{c}"><title>{n} {l}: {v}</title></rect>"#,
                x = LEFT + slot * i as f64 + slot * 0.1,
                w = slot * 0.8,
                h = bottom - top,
                c = PALETTE[k % PALETTE.len()],
                n = escape(&s.name),
                l = escape(label),
                v = s.values[i]
            );
            base += s.values[i];
        }
    }
    frame.x_labels(labels, slot);
    frame.legend(series);
    frame.finish()
}

/// One line per series over the labels, on the axis `range` (default: 0 to the largest
/// value). NaN values (days without data) are skipped.
pub fn lines(
    title: &str,
    labels: &[String],
    series: &[Series],
    range: Option<(f64, f64)>,
) -> String {
    let largest = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let (min, max) = range.unwrap_or((0.0, largest));
    let mut frame = Frame::new(title, min, max.max(min));
    let slot = slot(labels);
    for (k, s) in series.iter().enumerate() {
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, v)| format!("{:.1},{:.1}", LEFT + slot * (i as f64 + 0.5), frame.y(*v)))
            .collect();
        let _ = write!(
            frame.out,
            r#"<polyline fill="none" stroke="{c}" stroke-width="2" points="{p}"><title>{n}</title></polyline>"#,
            c = PALETTE[k % PALETTE.len()],
            p = points.join(" "),
            n = escape(&s.name)
        );
    }
    frame.x_labels(labels, slot);
    frame.legend(series);
    frame.finish()
}

/// One horizontal bar per label, longest first as given.
pub fn horizontal_bars(title: &str, labels: &[String], values: &[f64]) -> String {
    let row = 22.0;
    let height = 40.0 + row * labels.len() as f64;
    let max = values.iter().copied().fold(0.0, f64::max).max(1.0);
    let (label_width, bar_width) = (360.0, WIDTH - 360.0 - 80.0);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img"><title>{t}</title><text x="10" y="20" font-size="14" font-weight="bold">{t}</text>"#,
        t = escape(title)
    );
    for (i, (label, value)) in labels.iter().zip(values).enumerate() {
        let y = 32.0 + row * i as f64;
        let shown: String = label.chars().take(55).collect();
        let _ = write!(
            out,
            r#"<text x="{tx}" y="{ty:.1}" font-size="11" text-anchor="end"><title>{full}</title>{shown}</text><rect x="{label_width}" y="{y:.1}" width="{w:.1}" height="16" fill="{c}"/><text x="{vx:.1}" y="{ty:.1}" font-size="11">{value}</text>"#,
            tx = label_width - 6.0,
            ty = y + 12.0,
            full = escape(label),
            shown = escape(&shown),
            w = bar_width * value / max,
            c = PALETTE[0],
            vx = label_width + bar_width * value / max + 4.0,
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short_and_text_is_escaped() {
        assert_eq!(short(1_250_000.0), "1.2M");
        assert_eq!(short(3000.0), "3k");
        assert_eq!(short(0.995), "0.99");
        assert_eq!(short(12.0), "12");
        assert_eq!(escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }

    #[test]
    fn bars_scale_to_the_largest_stack() {
        let labels = vec!["d1".to_string(), "d2".to_string()];
        let series = vec![
            Series {
                name: "raw".into(),
                values: vec![10.0, 30.0],
            },
            Series {
                name: "processed".into(),
                values: vec![10.0, 10.0],
            },
        ];
        let svg = stacked_bars("rows", &labels, &series);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 4 + 2, "bars plus legend");
        // The tallest stack (40) fills the plot: its top bar starts at the plot's top.
        assert!(svg.contains(&format!(r#"y="{TOP:.1}""#)), "{svg}");
        let chart = lines("q", &labels, &series, Some((0.0, 1.0)));
        assert_eq!(chart.matches("<polyline").count(), 2);
    }
}
