//! What a scenario hands back to people: CSV tables, SVG plots and one
//! self-contained HTML page.

use std::fmt::{self, Write as _};

use plotters::prelude::*;

/// A table of results: a header row and rows of cells, written as CSV (RFC 4180).
///
/// # Examples
///
/// ```
/// use steadfast_sim::Table;
///
/// let mut table = Table::new(["policy", "amplification"]);
/// table.push(["plain retries", "3.1"]);
/// table.push(["budget, 10%", "1.1"]);
/// assert_eq!(table.to_csv(), "policy,amplification\nplain retries,3.1\n\"budget, 10%\",1.1\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn csv_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

impl Table {
    /// An empty table with these column names.
    pub fn new<S: ToString>(header: impl IntoIterator<Item = S>) -> Table {
        Table {
            header: header.into_iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (cells beyond the header's width are kept; missing ones are empty).
    pub fn push<S: ToString>(&mut self, row: impl IntoIterator<Item = S>) {
        self.rows
            .push(row.into_iter().map(|c| c.to_string()).collect());
    }

    /// The column names.
    #[must_use]
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The rows.
    #[must_use]
    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// The table as CSV, one line per row, header first.
    #[must_use]
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                csv_field(&mut out, cell);
            }
            out.push('\n');
        }
        out
    }

    /// The table as an HTML `<table>`.
    #[must_use]
    pub fn to_html(&self) -> String {
        let mut out = String::from("<table>\n<thead><tr>");
        for h in &self.header {
            let _ = write!(out, "<th>{}</th>", html_escape(h));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for row in &self.rows {
            out.push_str("<tr>");
            for cell in row {
                let _ = write!(out, "<td>{}</td>", html_escape(cell));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
        out
    }
}

impl fmt::Display for Table {
    /// Aligned plain-text columns, for terminals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.header.len()])
            .max()
            .unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let line: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                .collect();
            writeln!(f, "  {}", line.join("  ").trim_end())?;
        }
        Ok(())
    }
}

/// One named line of a [`LinePlot`].
///
/// ```
/// use steadfast_sim::Series;
///
/// let s = Series { name: "p99".into(), points: vec![(0.0, 1.0), (1.0, 2.0)] };
/// assert_eq!(s.points.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// The points, in drawing order. Non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
}

/// A line plot rendered to SVG with plotters (no system libraries needed).
///
/// # Examples
///
/// ```
/// use steadfast_sim::LinePlot;
///
/// let mut plot = LinePlot::new("Detection time vs mistakes", "mistake rate (1/h)", "detection time (s)");
/// plot.series("phi accrual", vec![(0.1, 4.0), (1.0, 2.5), (10.0, 1.2)]);
/// let svg = plot.to_svg().unwrap();
/// assert!(svg.starts_with("<svg"));
/// assert!(svg.contains("phi accrual"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LinePlot {
    title: String,
    x_label: String,
    y_label: String,
    series: Vec<Series>,
    size: (u32, u32),
}

/// Why a plot could not be drawn.
///
/// ```
/// use steadfast_sim::LinePlot;
///
/// // Finite data always draws; an error names the plot and the backend's reason.
/// match LinePlot::new("load", "t", "rps").to_svg() {
///     Ok(svg) => assert!(svg.contains("load")),
///     Err(e) => assert!(e.to_string().starts_with("plot `load` could not be drawn")),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plot `{title}` could not be drawn: {reason}")]
#[non_exhaustive]
pub struct PlotError {
    /// The plot's title.
    pub title: String,
    /// What went wrong.
    pub reason: String,
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(23, 190, 207),
];

impl LinePlot {
    /// An empty plot, 720 × 400 pixels.
    #[must_use]
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> LinePlot {
        LinePlot {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
            size: (720, 400),
        }
    }

    /// Adds a line.
    pub fn series(&mut self, name: impl Into<String>, points: Vec<(f64, f64)>) -> &mut LinePlot {
        self.series.push(Series {
            name: name.into(),
            points,
        });
        self
    }

    /// The plot's title.
    #[must_use]
    pub fn title(&self) -> &str {
        &self.title
    }

    /// Renders the plot as an SVG document.
    ///
    /// # Errors
    ///
    /// A [`PlotError`] if plotters fails to draw (it does not for finite data).
    pub fn to_svg(&self) -> Result<String, PlotError> {
        let fail = |reason: String| PlotError {
            title: self.title.clone(),
            reason,
        };
        let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
        let all: Vec<(f64, f64)> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().filter(finite).copied())
            .collect();
        let span = |values: &mut dyn Iterator<Item = f64>| {
            let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
            if lo > hi {
                (0.0, 1.0)
            } else if lo == hi {
                (lo - 1.0, hi + 1.0)
            } else {
                let pad = (hi - lo) * 0.05;
                (lo - pad, hi + pad)
            }
        };
        let (x0, x1) = span(&mut all.iter().map(|p| p.0));
        let (y0, y1) = span(&mut all.iter().map(|p| p.1));
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, self.size).into_drawing_area();
            root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
            let mut chart = ChartBuilder::on(&root)
                .caption(&self.title, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(|e| fail(e.to_string()))?;
            chart
                .configure_mesh()
                .x_desc(self.x_label.as_str())
                .y_desc(self.y_label.as_str())
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(|e| fail(e.to_string()))?;
            for (i, series) in self.series.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                let points: Vec<(f64, f64)> =
                    series.points.iter().filter(finite).copied().collect();
                chart
                    .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                    .map_err(|e| fail(e.to_string()))?
                    .label(series.name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                chart
                    .draw_series(
                        points
                            .into_iter()
                            .map(|p| Circle::new(p, 3, color.filled())),
                    )
                    .map_err(|e| fail(e.to_string()))?;
            }
            if !self.series.is_empty() {
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK.mix(0.3))
                    .draw()
                    .map_err(|e| fail(e.to_string()))?;
            }
            root.present().map_err(|e| fail(e.to_string()))?;
        }
        Ok(svg)
    }
}

/// One section of an [`HtmlReport`]: a heading, paragraphs, plots and tables.
///
/// ```
/// use steadfast_sim::{HtmlReport, Section};
///
/// let html = HtmlReport::new("r").section(Section::new("Summary").paragraph("All good.")).to_html();
/// assert!(html.contains("<h2>Summary</h2>") && html.contains("<p>All good.</p>"));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Section {
    heading: String,
    paragraphs: Vec<String>,
    svgs: Vec<String>,
    tables: Vec<Table>,
}

impl Section {
    /// A section with this heading.
    #[must_use]
    pub fn new(heading: impl Into<String>) -> Section {
        Section {
            heading: heading.into(),
            ..Section::default()
        }
    }

    /// Adds a paragraph of text (escaped).
    #[must_use]
    pub fn paragraph(mut self, text: impl Into<String>) -> Section {
        self.paragraphs.push(text.into());
        self
    }

    /// Adds a plot, rendered inline.
    ///
    /// # Errors
    ///
    /// The plot's [`PlotError`], if it cannot be drawn.
    pub fn plot(mut self, plot: &LinePlot) -> Result<Section, PlotError> {
        self.svgs.push(plot.to_svg()?);
        Ok(self)
    }

    /// Adds a table.
    #[must_use]
    pub fn table(mut self, table: Table) -> Section {
        self.tables.push(table);
        self
    }
}

/// A self-contained HTML page (inline SVG and CSS, nothing fetched).
///
/// # Examples
///
/// ```
/// use steadfast_sim::{HtmlReport, LinePlot, Section, Table};
///
/// let mut plot = LinePlot::new("Load", "t (s)", "requests/s");
/// plot.series("server", vec![(0.0, 100.0), (1.0, 300.0)]);
/// let mut table = Table::new(["metric", "value"]);
/// table.push(["amplification", "3.0"]);
/// let html = HtmlReport::new("retry storm <seed 1>")
///     .section(Section::new("Load").paragraph("Retries triple the load.").plot(&plot).unwrap().table(table))
///     .to_html();
/// assert!(html.contains("<svg"));
/// assert!(html.contains("retry storm &lt;seed 1&gt;"));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HtmlReport {
    title: String,
    sections: Vec<Section>,
}

impl HtmlReport {
    /// An empty report.
    #[must_use]
    pub fn new(title: impl Into<String>) -> HtmlReport {
        HtmlReport {
            title: title.into(),
            sections: Vec::new(),
        }
    }

    /// Appends a section.
    #[must_use]
    pub fn section(mut self, section: Section) -> HtmlReport {
        self.sections.push(section);
        self
    }

    /// The page.
    #[must_use]
    pub fn to_html(&self) -> String {
        let title = html_escape(&self.title);
        let mut out = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n<style>\n\
             body {{ font-family: sans-serif; max-width: 960px; margin: 2em auto; color: #222; }}\n\
             table {{ border-collapse: collapse; margin: 1em 0; }}\n\
             th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: left; }}\n\
             th {{ background: #f3f3f3; }}\n\
             svg {{ display: block; margin: 1em 0; }}\n\
             </style>\n</head>\n<body>\n<h1>{title}</h1>\n"
        );
        for section in &self.sections {
            let _ = writeln!(out, "<h2>{}</h2>", html_escape(&section.heading));
            for p in &section.paragraphs {
                let _ = writeln!(out, "<p>{}</p>", html_escape(p));
            }
            for svg in &section.svgs {
                out.push_str(svg);
                out.push('\n');
            }
            for table in &section.tables {
                out.push_str(&table.to_html());
            }
        }
        out.push_str("</body>\n</html>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let mut t = Table::new(["a", "b"]);
        t.push(["say \"hi\"", "line\nbreak"]);
        assert_eq!(t.to_csv(), "a,b\n\"say \"\"hi\"\"\",\"line\nbreak\"\n");
    }

    #[test]
    fn text_table_aligns_columns() {
        let mut t = Table::new(["name", "n"]);
        t.push(["long name", "1"]);
        assert_eq!(t.to_string(), "  name       n\n  long name  1\n");
    }

    #[test]
    fn plots_survive_empty_constant_and_non_finite_data() {
        let mut p = LinePlot::new("t", "x", "y");
        assert!(p.to_svg().is_ok());
        p.series("flat", vec![(1.0, 1.0), (1.0, 1.0)]);
        p.series(
            "bad",
            vec![(f64::NAN, 1.0), (2.0, f64::INFINITY), (3.0, 2.0)],
        );
        let svg = p.to_svg().unwrap();
        assert!(svg.contains("flat") && svg.contains("bad"));
    }

    #[test]
    fn html_escapes_text() {
        let html = HtmlReport::new("a & b")
            .section(Section::new("<x>").paragraph("\"q\""))
            .to_html();
        assert!(
            html.contains("a &amp; b")
                && html.contains("&lt;x&gt;")
                && html.contains("&quot;q&quot;")
        );
    }
}

/// Everything a scenario run produces, ready to print and to write to disk:
/// a narrative, a summary table, further tables (CSV) and plots (SVG).
///
/// [`ScenarioReport::write_to`] writes `summary.csv`, one CSV per table, one
/// SVG per plot and a self-contained `report.html` into a directory.
///
/// # Examples
///
/// ```
/// use steadfast_sim::{LinePlot, ScenarioReport, Table};
///
/// let mut summary = Table::new(["policy", "amplification"]);
/// summary.push(["plain", "3.0"]);
/// let mut plot = LinePlot::new("Load", "t (s)", "rps");
/// plot.series("server", vec![(0.0, 1.0), (1.0, 3.0)]);
/// let report = ScenarioReport::new("retry-storm", summary)
///     .narrate("t+10s  the server starts failing")
///     .plot("load", plot);
///
/// let dir = std::env::temp_dir().join(format!("steadfast-doc-{}", std::process::id()));
/// let written = report.write_to(&dir).unwrap();
/// assert!(written.iter().any(|p| p.ends_with("report.html")));
/// assert!(dir.join("load.svg").is_file() && dir.join("summary.csv").is_file());
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioReport {
    name: String,
    narrative: Vec<String>,
    summary: Table,
    tables: Vec<(String, Table)>,
    data: Vec<(String, Table)>,
    plots: Vec<(String, LinePlot)>,
}

/// Turns a free-form name into a safe file stem (`a-z0-9-_`).
fn file_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if stem.is_empty() {
        "unnamed".to_owned()
    } else {
        stem
    }
}

impl ScenarioReport {
    /// A report named `name` (the scenario) with its summary table.
    #[must_use]
    pub fn new(name: impl Into<String>, summary: Table) -> ScenarioReport {
        ScenarioReport {
            name: name.into(),
            narrative: Vec::new(),
            summary,
            tables: Vec::new(),
            data: Vec::new(),
            plots: Vec::new(),
        }
    }

    /// Adds a line to the narrative (a timeline entry, a conclusion).
    #[must_use]
    pub fn narrate(mut self, line: impl Into<String>) -> ScenarioReport {
        self.narrative.push(line.into());
        self
    }

    /// Adds a table, written as `<name>.csv`.
    #[must_use]
    pub fn table(mut self, name: impl Into<String>, table: Table) -> ScenarioReport {
        self.tables.push((name.into(), table));
        self
    }

    /// Adds a long table (one row per step, say), written as `<name>.csv`
    /// and only named in the HTML, which stays small.
    ///
    /// ```
    /// use steadfast_sim::{ScenarioReport, Table};
    ///
    /// let mut steps = Table::new(["t", "errors"]);
    /// steps.push(["0", "3"]);
    /// let report = ScenarioReport::new("s", Table::new(["x"])).data("steps", steps);
    /// let html = report.to_html().unwrap();
    /// assert!(html.contains("steps.csv (1 rows)") && !html.contains("<td>3</td>"));
    /// ```
    #[must_use]
    pub fn data(mut self, name: impl Into<String>, table: Table) -> ScenarioReport {
        self.data.push((name.into(), table));
        self
    }

    /// The long tables written only as CSV, by name.
    #[must_use]
    pub fn data_tables(&self) -> &[(String, Table)] {
        &self.data
    }

    /// Adds a plot, written as `<name>.svg` and inlined in the HTML.
    #[must_use]
    pub fn plot(mut self, name: impl Into<String>, plot: LinePlot) -> ScenarioReport {
        self.plots.push((name.into(), plot));
        self
    }

    /// The scenario's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The narrative lines.
    #[must_use]
    pub fn narrative(&self) -> &[String] {
        &self.narrative
    }

    /// The summary table.
    #[must_use]
    pub fn summary(&self) -> &Table {
        &self.summary
    }

    /// The further tables, by name.
    #[must_use]
    pub fn tables(&self) -> &[(String, Table)] {
        &self.tables
    }

    /// The plots, by name.
    #[must_use]
    pub fn plots(&self) -> &[(String, LinePlot)] {
        &self.plots
    }

    /// The report as one self-contained HTML page.
    ///
    /// # Errors
    ///
    /// A [`PlotError`] if a plot cannot be drawn.
    pub fn to_html(&self) -> Result<String, PlotError> {
        let mut overview = Section::new("Summary").table(self.summary.clone());
        if !self.narrative.is_empty() {
            overview = overview.paragraph(self.narrative.join("\n"));
        }
        let mut html = HtmlReport::new(format!("steadfast sim: {}", self.name)).section(overview);
        for (name, plot) in &self.plots {
            html = html.section(
                Section::new(plot.title().to_owned())
                    .plot(plot)?
                    .paragraph(format!("{}.svg", file_stem(name))),
            );
        }
        for (name, table) in &self.tables {
            html = html.section(Section::new(name.clone()).table(table.clone()));
        }
        if !self.data.is_empty() {
            let mut files = Section::new("Data files");
            for (name, table) in &self.data {
                files = files.paragraph(format!(
                    "{}.csv ({} rows)",
                    file_stem(name),
                    table.rows().len()
                ));
            }
            html = html.section(files);
        }
        Ok(html.to_html())
    }

    /// Writes `summary.csv`, `<table>.csv`, `<plot>.svg` and `report.html`
    /// into `dir` (created if missing) and returns the paths written.
    ///
    /// # Errors
    ///
    /// An I/O error from creating the directory or writing a file; a plot
    /// that cannot be drawn is reported as `InvalidData`.
    pub fn write_to(&self, dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
        let plot_error = |e: PlotError| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        let mut write = |name: String, contents: &str| -> std::io::Result<()> {
            let path = dir.join(name);
            std::fs::write(&path, contents)?;
            written.push(path);
            Ok(())
        };
        write("summary.csv".to_owned(), &self.summary.to_csv())?;
        for (name, table) in self.tables.iter().chain(&self.data) {
            write(format!("{}.csv", file_stem(name)), &table.to_csv())?;
        }
        for (name, plot) in &self.plots {
            write(
                format!("{}.svg", file_stem(name)),
                &plot.to_svg().map_err(plot_error)?,
            )?;
        }
        write(
            "report.html".to_owned(),
            &self.to_html().map_err(plot_error)?,
        )?;
        Ok(written)
    }
}

impl fmt::Display for ScenarioReport {
    /// The narrative, then the summary table, for terminals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.narrative {
            writeln!(f, "  {line}")?;
        }
        if !self.narrative.is_empty() {
            writeln!(f)?;
        }
        write!(f, "{}", self.summary)
    }
}

#[cfg(test)]
mod scenario_report_tests {
    use super::*;

    #[test]
    fn file_stems_are_safe() {
        assert_eq!(
            file_stem("Detection vs Mistakes/1"),
            "detection-vs-mistakes-1"
        );
        assert_eq!(file_stem(""), "unnamed");
        assert_eq!(file_stem("../../etc"), "------etc");
    }
}
