//! The chart: every goal of the run as a horizontal bar of its ratio (log scale) with the goal
//! marked, green where met and red where missed, drawn with plotters' SVG backend (no font
//! files needed: the SVG names a generic font and the viewer draws the text).

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
}
