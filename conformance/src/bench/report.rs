//! The comparison: one row per figure, with both servers' values, the herd/ZooKeeper ratio
//! and the target, printed as a table, written as CSV and drawn as a PNG bar chart.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;

/// What a row's target bounds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// herd/ZooKeeper must be at least this (throughput).
    RatioAtLeast(f64),
    /// herd/ZooKeeper must be at most this (latency, CPU, memory, time).
    RatioAtMost(f64),
    /// herd's own value must be at most this (ZooKeeper's is shown for reference).
    HerdAtMost(f64),
}

impl Target {
    /// As printed in the table and CSV.
    pub fn describe(self) -> String {
        match self {
            Target::RatioAtLeast(r) => format!(">= {r}x"),
            Target::RatioAtMost(r) => format!("<= {r}x"),
            Target::HerdAtMost(v) => format!("herd <= {v}"),
        }
    }

    /// Whether the figures meet the target; `None` when a figure is missing.
    pub fn met(self, herd: Option<f64>, ratio: Option<f64>) -> Option<bool> {
        match self {
            Target::RatioAtLeast(t) => ratio.map(|r| r >= t),
            Target::RatioAtMost(t) => ratio.map(|r| r <= t),
            Target::HerdAtMost(t) => herd.map(|h| h <= t),
        }
    }

    /// The ratio the chart marks as the goal, if the target is a ratio.
    fn ratio_mark(self) -> Option<f64> {
        match self {
            Target::RatioAtLeast(r) | Target::RatioAtMost(r) => Some(r),
            Target::HerdAtMost(_) => None,
        }
    }
}

/// One compared figure.
#[derive(Clone, Debug)]
pub struct Row {
    /// Short name, e.g. `get ops/s c=32`.
    pub name: String,
    /// Unit of the values.
    pub unit: &'static str,
    /// herd's value, if measured.
    pub herd: Option<f64>,
    /// ZooKeeper's value, if measured.
    pub zookeeper: Option<f64>,
    /// The goal, if any.
    pub target: Option<Target>,
}

impl Row {
    /// herd / ZooKeeper, when both are measured and ZooKeeper's is not zero.
    pub fn ratio(&self) -> Option<f64> {
        match (self.herd, self.zookeeper) {
            (Some(h), Some(z)) if z != 0.0 => Some(h / z),
            _ => None,
        }
    }

    /// Whether the target is met (`None`: no target or a figure is missing).
    pub fn met(&self) -> Option<bool> {
        self.target.and_then(|t| t.met(self.herd, self.ratio()))
    }
}

fn fmt_value(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v.abs() >= 1000.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    match r {
        None => "-".into(),
        Some(r) if r >= 10.0 => format!("{r:.1}x"),
        Some(r) => format!("{r:.3}x"),
    }
}

fn verdict(m: Option<bool>) -> &'static str {
    match m {
        Some(true) => "ok",
        Some(false) => "MISS",
        None => "",
    }
}

/// The side-by-side table.
pub fn table(rows: &[Row]) -> String {
    let name_w = rows.iter().map(|r| r.name.len() + r.unit.len() + 3).max().unwrap_or(10).max(10);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<name_w$} {:>12} {:>12} {:>10} {:>14} {:>5}",
        "figure", "herd", "ZooKeeper", "herd/ZK", "target", ""
    );
    let _ = writeln!(out, "{}", "-".repeat(name_w + 12 + 12 + 10 + 14 + 5 + 5));
    for r in rows {
        let label = format!("{} ({})", r.name, r.unit);
        let _ = writeln!(
            out,
            "{:<name_w$} {:>12} {:>12} {:>10} {:>14} {:>5}",
            label,
            fmt_value(r.herd),
            fmt_value(r.zookeeper),
            fmt_ratio(r.ratio()),
            r.target.map(|t| t.describe()).unwrap_or_default(),
            verdict(r.met()),
        );
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_num(v: Option<f64>) -> String {
    v.map(|v| format!("{v}")).unwrap_or_default()
}

/// The rows as CSV: `figure,unit,herd,zookeeper,ratio,target,met`.
pub fn csv(rows: &[Row]) -> String {
    let mut out = String::from("figure,unit,herd,zookeeper,ratio,target,met\n");
    for r in rows {
        let met = match r.met() {
            Some(true) => "yes",
            Some(false) => "no",
            None => "",
        };
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            csv_field(&r.name),
            csv_field(r.unit),
            csv_num(r.herd),
            csv_num(r.zookeeper),
            csv_num(r.ratio()),
            csv_field(&r.target.map(|t| t.describe()).unwrap_or_default()),
            met
        );
    }
    out
}

/// Writes `text` to `path`, creating its directory.
pub fn write_file(path: &Path, text: &str) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, text)
}

/// A chart panel of grouped vertical bars: one group per x position, one bar per series in
/// each group. Rows a panel shows are left out of the chart's list of single bars.
#[derive(Clone, Debug, Default)]
pub struct Panel {
    /// Caption.
    pub title: String,
    /// Group names, left to right.
    pub groups: Vec<String>,
    /// Series names, in their order within a group (drawn dark to light).
    pub series: Vec<String>,
    /// Every bar: (index in the rows, group index, series index).
    pub bars: Vec<(usize, usize, usize)>,
}

/// Chart width in pixels.
const CHART_W: u32 = 1400;
/// Height of the chart's title, in pixels.
const CHART_TITLE_H: u32 = 40;
/// Height of one grouped panel, in pixels.
const CHART_PANEL_H: u32 = 330;
/// Height per bar of the list, in pixels.
const CHART_ROW_H: u32 = 28;
/// Height of the list's caption and axis, in pixels.
const CHART_CHROME_H: u32 = 110;
/// Width of a group taken by its bars (the rest separates groups).
const GROUP_FILL: f64 = 0.8;

/// Loads `font` for the chart's text. plotters' `ab_glyph` backend draws with a font file
/// handed in at run time, so neither fontconfig nor freetype is needed; without the file
/// the chart is drawn without any text.
pub fn load_font(font: &Path) -> Result<(), String> {
    let bytes = fs::read(font).map_err(|e| format!("font {}: {e}", font.display()))?;
    // plotters keeps the font for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, bytes)
        .map_err(|_| format!("font {}: not a usable TrueType/OpenType file", font.display()))
}

/// A ratio that can be drawn on a log axis.
fn drawable(r: &Row) -> Option<f64> {
    r.ratio().filter(|x| *x > 0.0 && x.is_finite())
}

/// Green where the target is met, red where it is missed, grey without a target; series
/// `s` of `n` is lightened by its rank so the bars of a group can be told apart.
fn bar_color(r: &Row, s: usize, n: usize) -> plotters::style::RGBColor {
    let (red, green, blue) = match r.met() {
        Some(true) => (46.0, 160.0, 67.0),
        Some(false) => (207.0, 34.0, 46.0),
        None => (140.0, 140.0, 140.0),
    };
    let k = if n > 1 { 0.55 * s as f64 / (n - 1) as f64 } else { 0.0 };
    let lift = |c: f64| (c + (255.0 - c) * k) as u8;
    plotters::style::RGBColor(lift(red), lift(green), lift(blue))
}

/// The log axis bounds around 1x that hold `values`, with room for the labels.
fn log_bounds(values: impl Iterator<Item = f64>, below: f64, above: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (1.0f64, 1.0f64);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (lo / below, hi * above)
}

/// Draws the chart: first every panel (grouped vertical bars, one panel under the other),
/// then one horizontal bar per remaining row that has a ratio. Every bar spans from 1x to
/// the herd/ZooKeeper ratio on a log axis, green where the target is met, red where it is
/// missed, grey without a target; a black tick marks the target ratio. `with_text` false
/// draws no text at all (no font available).
pub fn png(rows: &[Row], panels: &[Panel], path: &Path, title: &str, with_text: bool) -> Result<(), String> {
    use plotters::prelude::*;

    let in_panel: Vec<bool> = (0..rows.len()).map(|i| panels.iter().any(|p| p.bars.iter().any(|b| b.0 == i))).collect();
    let list: Vec<&Row> =
        rows.iter().zip(&in_panel).filter(|(r, inp)| !**inp && drawable(r).is_some()).map(|(r, _)| r).collect();
    let panels: Vec<&Panel> = panels
        .iter()
        .filter(|p| p.bars.iter().any(|b| rows.get(b.0).and_then(drawable).is_some() && b.1 < p.groups.len()))
        .collect();
    if list.is_empty() && panels.is_empty() {
        return Err("no ratio to draw (both servers are needed)".into());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let title_h = if with_text { CHART_TITLE_H } else { 0 };
    let list_h = if list.is_empty() { 0 } else { CHART_CHROME_H + CHART_ROW_H * list.len() as u32 };
    let height = title_h + CHART_PANEL_H * panels.len() as u32 + list_h;
    let root = BitMapBackend::new(path, (CHART_W, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut rest = root.clone();
    if with_text {
        rest = root.titled(title, ("sans-serif", 22)).map_err(|e| e.to_string())?;
    }
    for p in panels {
        let (area, below) = rest.split_vertically(CHART_PANEL_H);
        draw_panel(&root, &area, rows, p, with_text)?;
        rest = below;
    }
    if !list.is_empty() {
        draw_list(&rest, &list, with_text)?;
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

/// One panel of grouped bars in `area`; `root` is the whole image (for the group names).
fn draw_panel<DB: plotters::prelude::DrawingBackend>(
    root: &plotters::drawing::DrawingArea<DB, plotters::coord::Shift>,
    area: &plotters::drawing::DrawingArea<DB, plotters::coord::Shift>,
    rows: &[Row],
    p: &Panel,
    with_text: bool,
) -> Result<(), String> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};

    let bars: Vec<(&Row, f64, usize, usize)> = p
        .bars
        .iter()
        .filter_map(|&(i, g, s)| {
            let r = rows.get(i)?;
            (g < p.groups.len()).then_some(())?;
            Some((r, drawable(r)?, g, s))
        })
        .collect();
    let marks = bars.iter().filter_map(|b| b.0.target.and_then(Target::ratio_mark));
    let (lo, hi) = log_bounds(bars.iter().map(|b| b.1).chain(marks), 1.6, 1.6);
    let ng = p.groups.len().max(1);
    let ns = p.series.len().max(1);
    let mut builder = ChartBuilder::on(area);
    builder.margin(10).margin_right(20);
    if with_text {
        let legend = if p.series.len() > 1 {
            format!("   [bars left to right, dark to light: {}]", p.series.join(", "))
        } else {
            String::new()
        };
        builder.caption(format!("{}{legend}", p.title), ("sans-serif", 16)).x_label_area_size(28).y_label_area_size(70);
    } else {
        builder.x_label_area_size(5).y_label_area_size(5);
    }
    let mut chart = builder.build_cartesian_2d(0f64..ng as f64, (lo..hi).log_scale()).map_err(|e| e.to_string())?;
    if with_text {
        let y_fmt = |v: &f64| format!("{v:.2}x");
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(8)
            .y_desc("herd / ZooKeeper")
            .y_label_formatter(&y_fmt)
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    let width = GROUP_FILL / ns as f64;
    for &(r, ratio, g, s) in &bars {
        let x0 = g as f64 + (1.0 - GROUP_FILL) / 2.0 + width * s.min(ns - 1) as f64;
        let x1 = x0 + width;
        let (a, b) = if ratio >= 1.0 { (1.0, ratio) } else { (ratio, 1.0) };
        chart
            .draw_series(std::iter::once(Rectangle::new([(x0, a), (x1, b)], bar_color(r, s, ns).filled())))
            .map_err(|e| e.to_string())?;
        if let Some(t) = r.target.and_then(Target::ratio_mark) {
            let pad = width * 0.1;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x0 - pad, t), (x1 + pad, t)],
                    BLACK.stroke_width(3),
                )))
                .map_err(|e| e.to_string())?;
        }
        if with_text {
            let (at, v) = if ratio >= 1.0 { (ratio * 1.03, VPos::Bottom) } else { (ratio / 1.03, VPos::Top) };
            let text = if ratio >= 10.0 { format!("{ratio:.0}") } else { format!("{ratio:.2}") };
            chart
                .draw_series(std::iter::once(Text::new(
                    text,
                    ((x0 + x1) / 2.0, at),
                    TextStyle::from(("sans-serif", 10).into_font()).pos(Pos::new(HPos::Center, v)),
                )))
                .map_err(|e| e.to_string())?;
        }
    }
    // The 1x line (parity) and the group separators.
    chart
        .draw_series(std::iter::once(PathElement::new(vec![(0.0, 1.0), (ng as f64, 1.0)], BLACK.stroke_width(1))))
        .map_err(|e| e.to_string())?;
    let sep = RGBColor(200, 200, 200);
    for g in 1..ng {
        chart
            .draw_series(std::iter::once(PathElement::new(vec![(g as f64, lo), (g as f64, hi)], sep.stroke_width(1))))
            .map_err(|e| e.to_string())?;
    }
    // Group names under the axis, centred on their group: drawn on the whole image, in
    // pixels, because the plotting area clips what lies outside it.
    if with_text {
        for (g, name) in p.groups.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(g as f64 + 0.5, lo));
            root.draw(&Text::new(
                name.clone(),
                (x, y + 6),
                TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Center, VPos::Top)),
            ))
            .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// One horizontal bar per row, top-down in table order, on a log axis around 1x.
fn draw_list<DB: plotters::prelude::DrawingBackend>(
    area: &plotters::drawing::DrawingArea<DB, plotters::coord::Shift>,
    bars: &[&Row],
    with_text: bool,
) -> Result<(), String> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};

    let marks = bars.iter().filter_map(|r| r.target.and_then(Target::ratio_mark));
    // Room on the right for the value printed beside each bar.
    let (lo, hi) = log_bounds(bars.iter().filter_map(|r| drawable(r)).chain(marks), 1.5, 2.5);
    let n = bars.len();
    let mut builder = ChartBuilder::on(area);
    builder.margin(15);
    if with_text {
        builder.caption("other figures", ("sans-serif", 16)).x_label_area_size(40).y_label_area_size(330);
    } else {
        builder.x_label_area_size(10).y_label_area_size(10);
    }
    let mut chart = builder
        // n segments, one per bar; an integer range is inclusive in plotters.
        .build_cartesian_2d((lo..hi).log_scale(), (0..n - 1).into_segmented())
        .map_err(|e| e.to_string())?;
    let names: Vec<String> = bars.iter().map(|r| format!("{} ({})", r.name, r.unit)).collect();
    // Bars are listed top-down in table order; the y axis counts bottom-up.
    let slot = |i: usize| n - 1 - i;
    let y_fmt = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) => names.get(slot(*i)).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    let x_fmt = |v: &f64| format!("{v:.2}x");
    // Without a font there is no mesh at all: its labels are text.
    if with_text {
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc("herd / ZooKeeper (log scale; black tick = target)")
            .y_labels(n)
            .y_label_formatter(&y_fmt)
            .x_label_formatter(&x_fmt)
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    for (i, r) in bars.iter().enumerate() {
        let ratio = drawable(r).unwrap_or(1.0);
        let (a, b) = if ratio >= 1.0 { (1.0, ratio) } else { (ratio, 1.0) };
        let y = slot(i);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(a, SegmentValue::Exact(y)), (b, SegmentValue::Exact(y + 1))],
                bar_color(r, 0, 1).filled(),
            )))
            .map_err(|e| e.to_string())?;
        if let Some(t) = r.target.and_then(Target::ratio_mark) {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(t, SegmentValue::Exact(y)), (t, SegmentValue::Exact(y + 1))],
                    BLACK.stroke_width(3),
                )))
                .map_err(|e| e.to_string())?;
        }
        if with_text {
            let at = b.max(r.target.and_then(Target::ratio_mark).unwrap_or(b)) * 1.05;
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{ratio:.2}x"),
                    (at, SegmentValue::CenterOf(y)),
                    TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center)),
                )))
                .map_err(|e| e.to_string())?;
        }
    }
    // The 1x line: parity with ZooKeeper.
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(1.0, SegmentValue::Exact(0)), (1.0, SegmentValue::Last)],
            BLACK.stroke_width(1),
        )))
        .map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(herd: Option<f64>, zk: Option<f64>, target: Option<Target>) -> Row {
        Row { name: "get ops/s c=1".into(), unit: "ops/s", herd, zookeeper: zk, target }
    }

    #[test]
    fn ratio_and_targets() {
        let r = row(Some(30.0), Some(10.0), Some(Target::RatioAtLeast(3.0)));
        assert_eq!(r.ratio(), Some(3.0));
        assert_eq!(r.met(), Some(true));
        let r = row(Some(6.0), Some(10.0), Some(Target::RatioAtMost(0.5)));
        assert_eq!(r.met(), Some(false));
        let r = row(Some(9.0), Some(100.0), Some(Target::HerdAtMost(10.0)));
        assert_eq!(r.met(), Some(true));
        let r = row(None, Some(10.0), Some(Target::RatioAtLeast(3.0)));
        assert_eq!(r.ratio(), None);
        assert_eq!(r.met(), None);
        assert_eq!(row(Some(1.0), Some(0.0), None).ratio(), None);
    }

    #[test]
    fn csv_rows_and_quoting() {
        let rows = vec![
            row(Some(30.0), Some(10.0), Some(Target::RatioAtLeast(3.0))),
            Row { name: "a,b".into(), unit: "s", herd: None, zookeeper: Some(2.5), target: None },
        ];
        let text = csv(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "figure,unit,herd,zookeeper,ratio,target,met");
        assert_eq!(lines[1], "get ops/s c=1,ops/s,30,10,3,>= 3x,yes");
        assert_eq!(lines[2], "\"a,b\",s,,2.5,,,");
    }

    #[test]
    fn table_marks_misses() {
        let t = table(&[row(Some(10.0), Some(10.0), Some(Target::RatioAtLeast(3.0)))]);
        assert!(t.contains("MISS"));
        assert!(t.contains("1.000x"));
    }

    #[test]
    fn png_without_text_needs_no_font() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.png");
        let rows = vec![
            row(Some(30.0), Some(10.0), Some(Target::RatioAtLeast(3.0))),
            row(Some(2.0), Some(10.0), Some(Target::RatioAtMost(0.5))),
        ];
        png(&rows, &[], &p, "t", false).unwrap();
        let bytes = fs::read(&p).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(png(&[row(None, Some(1.0), None)], &[], &p, "t", false).is_err());
        png(&rows, &[panel()], &p, "t", false).unwrap();
        assert_eq!(&fs::read(&p).unwrap()[1..4], b"PNG");
    }

    #[test]
    fn png_with_the_debian_font() {
        // fonts-dejavu-core is part of the machine image (and a dependency of Java's).
        load_font(Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")).unwrap();
        assert!(load_font(Path::new("/nonexistent.ttf")).is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.png");
        let rows = vec![
            row(Some(30.0), Some(10.0), Some(Target::RatioAtLeast(3.0))),
            row(Some(2.0), Some(10.0), Some(Target::RatioAtMost(0.5))),
            row(Some(2.0), Some(10.0), None),
        ];
        png(&rows, &[], &p, "title", true).unwrap();
        assert_eq!(&fs::read(&p).unwrap()[1..4], b"PNG");
        let mut more = rows.clone();
        more.push(row(Some(1.0), Some(2.0), Some(Target::RatioAtMost(0.5))));
        png(&more, &[panel()], &p, "title", true).unwrap();
        assert_eq!(&fs::read(&p).unwrap()[1..4], b"PNG");
        // Only panel rows: no list below the panel.
        png(&more[..3], &[panel()], &p, "title", true).unwrap();
    }

    /// Rows 0..3 in two groups of two series (row 3 stays in the list); a bad group index
    /// is skipped.
    fn panel() -> Panel {
        Panel {
            title: "throughput".into(),
            groups: vec!["get c=1".into(), "set c=1".into()],
            series: vec!["sync".into(), "pipelined k=16".into()],
            bars: vec![(0, 0, 0), (1, 0, 1), (2, 1, 0), (2, 9, 0)],
        }
    }

    #[test]
    fn chart_height_follows_panels_and_list() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.png");
        let rows = vec![
            row(Some(30.0), Some(10.0), Some(Target::RatioAtLeast(3.0))),
            row(Some(2.0), Some(10.0), None),
            row(Some(2.0), Some(10.0), None),
            row(Some(2.0), Some(10.0), None),
        ];
        let height = |path: &Path| {
            let b = fs::read(path).unwrap();
            u32::from_be_bytes([b[20], b[21], b[22], b[23]])
        };
        png(&rows, &[panel()], &p, "t", false).unwrap();
        assert_eq!(height(&p), CHART_PANEL_H + CHART_CHROME_H + CHART_ROW_H);
        png(&rows, &[], &p, "t", false).unwrap();
        assert_eq!(height(&p), CHART_CHROME_H + CHART_ROW_H * 4);
    }
}
