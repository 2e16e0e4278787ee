//! Hand-written SVG line charts: axes, ticks, polylines with markers, dashed limit lines and a
//! legend. No plotting crate.

use std::fmt::Write as _;

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// CSS colour.
    pub color: &'static str,
    /// Points (x, y); non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed without markers (limits, thresholds).
    pub dashed: bool,
}

/// A chart with linear y and linear or log2 x.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Title above the plot.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Log2 x axis (concurrency sweeps).
    pub log2_x: bool,
    /// The lines.
    pub series: Vec<Series>,
}

const W: f64 = 760.0;
const H: f64 = 440.0;
const L: f64 = 70.0;
const R: f64 = 190.0;
const T: f64 = 40.0;
const B: f64 = 60.0;

/// "Nice" tick step for a range divided into about `n` parts.
fn nice_step(range: f64, n: f64) -> f64 {
    let raw = (range / n).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn fmt_tick(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}").trim_end_matches('0').to_string()
    }
}

impl Chart {
    /// Renders the chart as a standalone SVG document.
    pub fn render(&self) -> String {
        let pts: Vec<(f64, f64)> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        let log = self.log2_x && pts.iter().all(|p| p.0 > 0.0);
        let tx = |x: f64| if log { x.log2() } else { x };
        let (mut x0, mut x1) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(tx(p.0)), b.max(tx(p.0)))
        });
        if !x0.is_finite() {
            (x0, x1) = (0.0, 1.0);
        }
        if x1 - x0 < 1e-9 {
            (x0, x1) = (x0 - 1.0, x1 + 1.0);
        }
        let y_max = pts.iter().map(|p| p.1).fold(0.0, f64::max);
        let ystep = nice_step(if y_max > 0.0 { y_max } else { 1.0 }, 5.0);
        let y1 = (y_max / ystep).ceil().max(1.0) * ystep;
        let (pw, ph) = (W - L - R, H - T - B);
        let sx = |x: f64| L + (tx(x) - x0) / (x1 - x0) * pw;
        let sy = |y: f64| T + ph - (y / y1) * ph;

        let mut o = String::new();
        let _ = writeln!(
            o,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(o, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
        let _ = writeln!(
            o,
            r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
            L + pw / 2.0,
            esc(&self.title)
        );
        // y grid and ticks
        let mut y = 0.0;
        while y <= y1 + ystep * 0.01 {
            let py = sy(y);
            let _ = writeln!(
                o,
                r##"<line x1="{L}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#e4e4e4"/>"##,
                L + pw
            );
            let _ = writeln!(
                o,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                L - 6.0,
                py + 4.0,
                fmt_tick(y)
            );
            y += ystep;
        }
        // x ticks: the data's x values on a log axis, nice steps on a linear one
        let mut xticks: Vec<f64> = Vec::new();
        if log {
            let mut xs: Vec<f64> = pts.iter().map(|p| p.0).collect();
            xs.sort_by(f64::total_cmp);
            xs.dedup();
            xticks = xs;
        } else {
            let step = nice_step(x1 - x0, 8.0);
            let mut x = (x0 / step).ceil() * step;
            while x <= x1 + step * 1e-6 {
                xticks.push(x);
                x += step;
            }
        }
        for x in xticks {
            let px = sx(x);
            let _ = writeln!(
                o,
                r##"<line x1="{px:.1}" y1="{T}" x2="{px:.1}" y2="{:.1}" stroke="#f0f0f0"/>"##,
                T + ph
            );
            let _ = writeln!(
                o,
                r#"<line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="black"/>"#,
                T + ph,
                T + ph + 5.0
            );
            let _ = writeln!(
                o,
                r#"<text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                T + ph + 18.0,
                fmt_tick(x)
            );
        }
        // axes and labels
        let _ = writeln!(
            o,
            r#"<line x1="{L}" y1="{T}" x2="{L}" y2="{:.1}" stroke="black"/>"#,
            T + ph
        );
        let _ = writeln!(
            o,
            r#"<line x1="{L}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/>"#,
            T + ph,
            L + pw,
            T + ph
        );
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            L + pw / 2.0,
            H - 18.0,
            esc(&self.x_label)
        );
        let _ = writeln!(
            o,
            r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">{}</text>"#,
            T + ph / 2.0,
            T + ph / 2.0,
            esc(&self.y_label)
        );
        // series
        for (i, s) in self.series.iter().enumerate() {
            let p: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite() && (!log || *x > 0.0))
                .collect();
            let dash = if s.dashed { r#" stroke-dasharray="6 4""# } else { "" };
            if p.len() > 1 {
                let path: Vec<String> = p.iter().map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y))).collect();
                let _ = writeln!(
                    o,
                    r#"<polyline fill="none" stroke="{}" stroke-width="2"{dash} points="{}"/>"#,
                    s.color,
                    path.join(" ")
                );
            }
            if !s.dashed {
                for &(x, y) in &p {
                    let _ = writeln!(
                        o,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{}"/>"#,
                        sx(x),
                        sy(y),
                        s.color
                    );
                }
            }
            let ly = T + 10.0 + i as f64 * 20.0;
            let lx = L + pw + 15.0;
            let _ = writeln!(
                o,
                r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{}" stroke-width="2"{dash}/>"#,
                lx + 24.0,
                s.color
            );
            let _ = writeln!(
                o,
                r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                lx + 30.0,
                ly + 4.0,
                esc(&s.name)
            );
        }
        o.push_str("</svg>\n");
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders() {
        let c = Chart {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            log2_x: true,
            series: vec![Series {
                name: "a<b".into(),
                color: "red",
                points: vec![(1.0, 10.0), (4.0, 900.0)],
                dashed: false,
            }],
        };
        let s = c.render();
        assert!(s.starts_with("<svg") && s.contains("polyline") && s.contains("a&lt;b"));
        assert_eq!(nice_step(1234.0, 5.0), 500.0);
    }
}

#[cfg(test)]
mod preview {
    use super::*;

    /// `LT_PLOT_PREVIEW=/tmp/x.svg cargo test preview` writes a sample sweep chart.
    #[test]
    fn preview() {
        let Ok(path) = std::env::var("LT_PLOT_PREVIEW") else {
            return;
        };
        let xs = [1.0, 2.0, 4.0, 8.0, 16.0];
        let s = |name: &str, color, ys: [f64; 5], dashed| Series {
            name: name.into(),
            color,
            points: xs.iter().copied().zip(ys).collect(),
            dashed,
        };
        let c = Chart {
            title: "sample sweep".into(),
            x_label: "concurrent sessions".into(),
            y_label: "latency (ms)".into(),
            log2_x: true,
            series: vec![
                s("final p50", "#1f77b4", [300.0, 320.0, 400.0, 700.0, 1900.0], false),
                s("final p95", "#d62728", [450.0, 500.0, 650.0, 1200.0, 3100.0], false),
                s("limit", "#d62728", [1500.0; 5], true),
            ],
        };
        std::fs::write(path, c.render()).expect("write preview");
    }
}
