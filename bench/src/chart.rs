//! The charts, drawn with plotters' SVG backend (no font files needed: the SVG names a generic
//! font and the viewer draws the text): [`svg`], every goal of the run as a horizontal bar of
//! its ratio (log scale) with the goal marked, green where met and red where missed; and
//! [`lines`], a sweep's series as lines over its points, both axes logarithmic.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use crate::report::{Judged, show_ratio};

const MET: RGBColor = RGBColor(46, 139, 87);
const MISSED: RGBColor = RGBColor(205, 60, 60);
const GOAL: RGBColor = RGBColor(20, 20, 20);
const ONE: RGBColor = RGBColor(150, 150, 150);

/// The chart of `judged` as an SVG document.
pub fn svg(judged: &[Judged], title: &str) -> Result<String, String> {
    let mut text = String::new();
    let rows = judged.len().max(1);
    let height = 110 + 30 * rows as u32;
    {
        let root = SVGBackend::with_string(&mut text, (1120, height)).into_drawing_area();
        draw(&root, judged, rows, title).map_err(|error| format!("drawing the chart: {error}"))?;
        root.present()
            .map_err(|error| format!("drawing the chart: {error}"))?;
    }
    Ok(text)
}

type Failure = Box<dyn std::error::Error>;

fn draw(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    judged: &[Judged],
    rows: usize,
    title: &str,
) -> Result<(), Failure> {
    root.fill(&WHITE)?;
    let values = judged
        .iter()
        .flat_map(|goal| [Some(goal.goal), goal.ratio])
        .flatten()
        .filter(|value| *value > 0.0);
    let (low, high) = values.fold((1.0f64, 1.0f64), |(low, high), value| {
        (low.min(value), high.max(value))
    });
    let low = 10f64.powf((low / 2.0).log10().floor());
    let high = 10f64.powf((high * 3.0).log10().ceil());

    // Row `index` of `judged` is drawn from the top: plotters counts segments from the bottom.
    let segment = |index: usize| rows - 1 - index;
    let labels: Vec<String> = judged.iter().map(|goal| goal.label.clone()).collect();

    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        // Room for the text right of the longest bar.
        .margin_right(150)
        .x_label_area_size(40)
        .y_label_area_size(430)
        .build_cartesian_2d((low..high).log_scale(), (0..rows).into_segmented())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(rows)
        .y_label_style(("sans-serif", 13))
        .y_label_formatter(&|value| match value {
            SegmentValue::CenterOf(segment_index) if *segment_index < rows => labels
                .get(rows - 1 - segment_index)
                .cloned()
                .unwrap_or_default(),
            _ => String::new(),
        })
        .x_desc("ratio: anchor / ours (log scale; right of the black mark meets the goal)")
        .x_label_formatter(&|value| show_ratio(*value))
        .draw()?;

    // 1×: where ours and the anchor are equal.
    chart.draw_series(std::iter::once(PathElement::new(
        vec![
            (1.0, SegmentValue::Exact(0)),
            (1.0, SegmentValue::Exact(rows)),
        ],
        ONE.stroke_width(1),
    )))?;
    for (index, goal) in judged.iter().enumerate() {
        let row = segment(index);
        if let Some(ratio) = goal.ratio {
            let color = if ratio >= goal.goal { MET } else { MISSED };
            let mut bar = Rectangle::new(
                [
                    (low, SegmentValue::Exact(row)),
                    (ratio, SegmentValue::Exact(row + 1)),
                ],
                color.mix(0.85).filled(),
            );
            bar.set_margin(5, 5, 0, 0);
            chart.draw_series(std::iter::once(bar))?;
            chart.draw_series(std::iter::once(Text::new(
                format!("{} (goal: {})", show_ratio(ratio), goal.goal_text),
                // Right of the bar and of the goal's mark, so the text crosses neither.
                (ratio.max(goal.goal) * 1.12, SegmentValue::CenterOf(row)),
                ("sans-serif", 12).into_font().color(&GOAL),
            )))?;
        } else {
            chart.draw_series(std::iter::once(Text::new(
                format!("not measured (goal: {})", goal.goal_text),
                (low * 1.1, SegmentValue::CenterOf(row)),
                ("sans-serif", 12).into_font().color(&ONE),
            )))?;
        }
        chart.draw_series(std::iter::once(PathElement::new(
            vec![
                (goal.goal, SegmentValue::Exact(row)),
                (goal.goal, SegmentValue::Exact(row + 1)),
            ],
            GOAL.stroke_width(3),
        )))?;
    }
    Ok(())
}

/// One line of a [`lines`] chart: a series' figure at every point of the sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The legend's text.
    pub label: String,
    /// One of ours: drawn thicker.
    pub ours: bool,
    /// `(median, min, max)` at each point, `None` where not measured.
    pub points: Vec<Option<(f64, f64, f64)>>,
}

/// Colours of the lines, ours first: distinct on white and in grey print.
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// A sweep's chart as an SVG document: `lines` over the points named `at` (equally spaced:
/// the points of a sweep grow geometrically, so this is a log scale), the figures on a log
/// scale shown by `show`, each median marked and its min–max range as a whisker.
pub fn lines(
    title: &str,
    at: &[String],
    x_desc: &str,
    y_desc: &str,
    lines: &[Line],
    show: &dyn Fn(f64) -> String,
) -> Result<String, String> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (900, 520)).into_drawing_area();
        draw_lines(&root, title, at, x_desc, y_desc, lines, show)
            .map_err(|error| format!("drawing the chart: {error}"))?;
        root.present()
            .map_err(|error| format!("drawing the chart: {error}"))?;
    }
    Ok(text)
}

fn draw_lines(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    at: &[String],
    x_desc: &str,
    y_desc: &str,
    lines: &[Line],
    show: &dyn Fn(f64) -> String,
) -> Result<(), Failure> {
    root.fill(&WHITE)?;
    let titled = root.titled(title, ("sans-serif", 18))?;
    // The legend gets its own column on the right, so it never hides a line.
    let (plot, legend) = titled.split_horizontally(640);
    let values = lines
        .iter()
        .flat_map(|line| line.points.iter().flatten())
        .flat_map(|&(median, min, max)| [median, min, max])
        .filter(|value| *value > 0.0 && value.is_finite());
    let (low, high) = values.fold((f64::INFINITY, 0f64), |(low, high), value| {
        (low.min(value), high.max(value))
    });
    // Whole decades, so the axis has a labelled mark at each end.
    let (low, high) = if high > 0.0 {
        (
            10f64.powf((low / 1.2).log10().floor()),
            10f64.powf((high * 1.2).log10().ceil()),
        )
    } else {
        (0.1, 10.0)
    };
    let points = at.len().max(1);
    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(80)
        // Plotters' integer ranges hold both ends: `0..points - 1` is `points` segments.
        .build_cartesian_2d(
            (0..points - 1).into_segmented(),
            (low..high).log_scale().with_key_points(marks(low, high)),
        )?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(points)
        .x_label_formatter(&|value| match value {
            SegmentValue::CenterOf(index) => at.get(*index).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .x_desc(x_desc)
        .y_desc(y_desc)
        .y_label_formatter(&|value| show(*value))
        .label_style(("sans-serif", 12))
        .draw()?;
    for (index, line) in lines.iter().enumerate() {
        let color = PALETTE[index % PALETTE.len()];
        let width = if line.ours { 3 } else { 1 };
        let measured: Vec<(usize, (f64, f64, f64))> = line
            .points
            .iter()
            .enumerate()
            .filter_map(|(point, figure)| figure.map(|figure| (point, figure)))
            .collect();
        chart.draw_series(std::iter::once(PathElement::new(
            measured
                .iter()
                .map(|&(point, (median, ..))| (SegmentValue::CenterOf(point), median))
                .collect::<Vec<_>>(),
            color.stroke_width(width),
        )))?;
        let y = 40 + 24 * index as i32;
        legend.draw(&PathElement::new(
            vec![(4, y), (28, y)],
            color.stroke_width(width),
        ))?;
        legend.draw(&Text::new(
            line.label.clone(),
            (34, y - 7),
            ("sans-serif", 12).into_font().color(&GOAL),
        ))?;
        chart.draw_series(measured.iter().map(|&(point, (median, ..))| {
            Circle::new((SegmentValue::CenterOf(point), median), 3, color.filled())
        }))?;
        chart.draw_series(measured.iter().map(|&(point, (_, min, max))| {
            PathElement::new(
                vec![
                    (SegmentValue::CenterOf(point), min),
                    (SegmentValue::CenterOf(point), max),
                ],
                color.mix(0.5).stroke_width(1),
            )
        }))?;
    }
    Ok(())
}

/// The marks of a log axis from `low` to `high`: 1, 2 and 5 times each power of ten.
fn marks(low: f64, high: f64) -> Vec<f64> {
    let first = low.log10().floor() as i32;
    let last = high.log10().ceil() as i32;
    (first..=last)
        .flat_map(|power| [1.0, 2.0, 5.0].map(|digit| digit * 10f64.powi(power)))
        .filter(|mark| *mark >= low * 0.999 && *mark <= high * 1.001)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_bars_marks_and_labels() {
        let judged = [
            Judged {
                label: "T1 ThreadPool vs rayon".into(),
                goal_text: "≥ rayon".into(),
                goal: 1.0,
                ratio: Some(1.4),
            },
            Judged {
                label: "P1 ours vs procspawn".into(),
                goal_text: "≥ 10× procspawn".into(),
                goal: 10.0,
                ratio: None,
            },
        ];
        let svg = svg(&judged, "Ratios vs goals").unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("T1 ThreadPool vs rayon"));
        assert!(svg.contains("1.40× (goal: ≥ rayon)"));
        assert!(svg.contains("not measured (goal: ≥ 10× procspawn)"));
    }

    #[test]
    fn log_marks_are_one_two_five() {
        assert_eq!(marks(100.0, 1000.0), [100.0, 200.0, 500.0, 1000.0]);
        assert_eq!(marks(1e-6, 1e-5).len(), 4);
    }

    #[test]
    fn draws_a_line_per_series_with_its_legend() {
        let at = ["1".to_owned(), "2".to_owned(), "4".to_owned()];
        let drawn = [
            Line {
                label: "ThreadPool".into(),
                ours: true,
                points: vec![Some((2e-7, 1e-7, 3e-7)), None, Some((4e-7, 3e-7, 5e-7))],
            },
            Line {
                label: "tokio".into(),
                ours: false,
                points: vec![Some((1e-6, 1e-6, 1e-6)); 3],
            },
        ];
        let svg = lines(
            "T1 × submitters",
            &at,
            "threads",
            "per task",
            &drawn,
            &|value| format!("{value:e}"),
        )
        .unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("ThreadPool") && svg.contains("tokio"));
        assert!(svg.contains("\n4\n"), "{svg}");
    }
}
