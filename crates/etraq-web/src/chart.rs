//! Small SVG charts rendered on the server (no JavaScript, no third-party library). Every label
//! is XML-escaped here, so the markup can be embedded in a page as is.

use std::fmt::Write;

/// One data series: its name and CSS class (the stylesheet gives it a colour).
#[derive(Clone, Copy, Debug)]
pub struct Series {
    /// Legend text.
    pub name: &'static str,
    /// CSS class of its bars.
    pub class: &'static str,
}

/// Escapes text for SVG/XML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

fn legend(svg: &mut String, series: &[Series], x: f64, y: f64) {
    let mut x = x;
    for s in series {
        let _ = write!(
            svg,
            r#"<rect x="{x:.0}" y="{:.0}" width="10" height="10" class="{}"/><text x="{:.0}" y="{y:.0}">{}</text>"#,
            y - 9.0,
            s.class,
            x + 14.0,
            esc(s.name)
        );
        x += 24.0 + 7.0 * s.name.len() as f64;
    }
}

/// Horizontal grouped bars: one group per row label, one bar per series. `fmt` writes a
/// value for people (the bar's end label and tooltip).
pub fn horizontal_bars(
    title: &str,
    series: &[Series],
    rows: &[(String, Vec<f64>)],
    fmt: &dyn Fn(f64) -> String,
) -> String {
    let label_w = 220.0;
    let width = 760.0;
    let bar_h = 14.0;
    let group_h = bar_h * series.len() as f64 + 10.0;
    let top = 46.0;
    let height = top + group_h * rows.len().max(1) as f64 + 10.0;
    let max = rows
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let scale = (width - label_w - 90.0) / max;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height:.0}" width="{width}" height="{height:.0}" role="img" aria-label="{t}"><title>{t}</title><text x="0" y="16" class="chart-title">{t}</text>"#,
        t = esc(title)
    );
    legend(&mut svg, series, label_w, 34.0);
    for (i, (label, values)) in rows.iter().enumerate() {
        let y0 = top + group_h * i as f64;
        let _ = write!(
            svg,
            r#"<text x="{:.0}" y="{:.0}" text-anchor="end">{}</text>"#,
            label_w - 8.0,
            y0 + group_h / 2.0,
            esc(&crate::html::short(label, 30))
        );
        for (j, (v, s)) in values.iter().zip(series).enumerate() {
            let y = y0 + bar_h * j as f64;
            let w = (v * scale).max(if *v > 0.0 { 1.0 } else { 0.0 });
            let text = esc(&fmt(*v));
            let _ = write!(
                svg,
                r#"<rect x="{label_w:.0}" y="{y:.0}" width="{w:.1}" height="{:.0}" class="{}"><title>{}: {text}</title></rect><text x="{:.1}" y="{:.0}" class="value">{text}</text>"#,
                bar_h - 2.0,
                s.class,
                esc(s.name),
                label_w + w + 4.0,
                y + bar_h - 4.0,
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Vertical stacked columns: one column per label (a day), one segment per series.
pub fn stacked_columns(title: &str, series: &[Series], cols: &[(String, Vec<f64>)]) -> String {
    let width = 760.0;
    let height = 300.0;
    let left = 40.0;
    let top = 46.0;
    let bottom = 40.0;
    let plot_h = height - top - bottom;
    let n = cols.len().max(1) as f64;
    let step = (width - left - 10.0) / n;
    let bar_w = (step * 0.7).max(1.0);
    let max = cols
        .iter()
        .map(|(_, v)| v.iter().sum::<f64>())
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{t}"><title>{t}</title><text x="0" y="16" class="chart-title">{t}</text>"#,
        t = esc(title)
    );
    legend(&mut svg, series, left, 34.0);
    let _ = write!(
        svg,
        r#"<text x="{:.0}" y="{top:.0}" text-anchor="end" class="axis">{max:.0}</text><text x="{:.0}" y="{:.0}" text-anchor="end" class="axis">0</text><line x1="{left}" y1="{:.0}" x2="{width}" y2="{:.0}" class="axis"/>"#,
        left - 4.0,
        left - 4.0,
        top + plot_h,
        top + plot_h,
        top + plot_h,
    );
    let label_every = (cols.len() / 10).max(1);
    for (i, (label, values)) in cols.iter().enumerate() {
        let x = left + step * i as f64 + (step - bar_w) / 2.0;
        let mut y = top + plot_h;
        for (v, s) in values.iter().zip(series) {
            let h = v / max * plot_h;
            if h <= 0.0 {
                continue;
            }
            y -= h;
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bar_w:.1}" height="{h:.1}" class="{}"><title>{} {}: {v:.0}</title></rect>"#,
                s.class,
                esc(label),
                esc(s.name),
            );
        }
        if i % label_every == 0 {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.0}" text-anchor="middle" class="axis">{}</text>"#,
                x + bar_w / 2.0,
                top + plot_h + 16.0,
                esc(label)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Lines over time: one point per label (a time bucket), one line per series, with a dot on
/// each point that carries its value as a tooltip. Series with the classes `s1`..`s4` get the
/// chart colours; `dashed` in a class draws the line dashed (the "all" series beside a solid
/// "human" one).
pub fn lines(title: &str, series: &[Series], labels: &[String], values: &[Vec<f64>]) -> String {
    let width = 760.0;
    let height = 300.0;
    let left = 48.0;
    let top = 56.0;
    let bottom = 40.0;
    let right = 16.0;
    let plot_h = height - top - bottom;
    let plot_w = width - left - right;
    let n = labels.len();
    // The top of the axis: a whole, even number of at least 4, so the middle line is whole too.
    let max = values
        .iter()
        .flat_map(|v| v.iter().copied())
        .fold(0.0_f64, f64::max)
        .ceil()
        .max(4.0);
    let max = max + max % 2.0;
    let x_of = |i: usize| {
        if n <= 1 {
            left + plot_w / 2.0
        } else {
            left + plot_w * i as f64 / (n - 1) as f64
        }
    };
    let y_of = |v: f64| top + plot_h - v / max * plot_h;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{t}"><title>{t}</title><text x="0" y="16" class="chart-title">{t}</text>"#,
        t = esc(title)
    );
    legend(&mut svg, series, left, 34.0);
    // Axis with the top value and a middle gridline.
    let _ = write!(
        svg,
        r#"<text x="{:.0}" y="{top:.0}" text-anchor="end" class="axis">{max:.0}</text><text x="{:.0}" y="{:.0}" text-anchor="end" class="axis">{:.0}</text><text x="{:.0}" y="{:.0}" text-anchor="end" class="axis">0</text><line x1="{left}" y1="{:.1}" x2="{:.0}" y2="{:.1}" class="grid"/><line x1="{left}" y1="{:.0}" x2="{:.0}" y2="{:.0}" class="axis"/>"#,
        left - 4.0,
        left - 4.0,
        y_of(max / 2.0) + 4.0,
        max / 2.0,
        left - 4.0,
        top + plot_h,
        y_of(max / 2.0),
        width - right,
        y_of(max / 2.0),
        top + plot_h,
        width - right,
        top + plot_h,
    );
    for (s, vals) in series.iter().zip(values) {
        let points: Vec<String> = vals
            .iter()
            .enumerate()
            .take(n)
            .map(|(i, v)| format!("{:.1},{:.1}", x_of(i), y_of(*v)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline points="{}" class="line {}"/>"#,
            points.join(" "),
            s.class
        );
        for (i, v) in vals.iter().enumerate().take(n) {
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" class="{}"><title>{} {}: {v:.0}</title></circle>"#,
                x_of(i),
                y_of(*v),
                s.class,
                esc(&labels[i]),
                esc(s.name),
            );
        }
    }
    let label_every = (n / 8).max(1);
    for (i, label) in labels.iter().enumerate() {
        if i % label_every == 0 || i + 1 == n {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.0}" text-anchor="middle" class="axis">{}</text>"#,
                x_of(i),
                top + plot_h + 16.0,
                esc(label)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        let s = [Series {
            name: "median",
            class: "s1",
        }];
        let svg = horizontal_bars(
            "<b>t</b>",
            &s,
            &[("<script>alert(1)</script>".into(), vec![3.0])],
            &|v| format!("{v}"),
        );
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        let cols = stacked_columns("v", &s, &[("a&b".into(), vec![1.0])]);
        assert!(cols.contains("a&amp;b"));
        let l = lines("t", &s, &["<x>".into(), "y".into()], &[vec![1.0, 2.0]]);
        assert!(l.contains("&lt;x&gt;") && !l.contains("<x>"));
        assert_eq!(l.matches("<circle").count(), 2);
    }
}
