//! Charts as SVG (plotters): the distribution of total claims with the
//! pool's money and the 99% VaR and ES marked, depletion by year, a fan of
//! the pool's balance, contributions to ES99, and sweep curves or heatmaps.
//!
//! SVG text is drawn by the viewer, so no font files are needed. PNG is
//! not written: rasterising text would need fonts on the machine.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{currency_word, output::write_atomic, percent};
use crate::error::Error;
use crate::result::RunResult;

/// Width and height of every chart, in pixels.
const SIZE: (u32, u32) = (960, 560);
const TITLE: (&str, u32) = ("sans-serif", 24);
const LABEL: (&str, u32) = ("sans-serif", 17);
const BLUE: RGBColor = RGBColor(31, 100, 170);
const LIGHT_BLUE: RGBColor = RGBColor(160, 195, 230);
const RED: RGBColor = RGBColor(200, 40, 40);
const ORANGE: RGBColor = RGBColor(230, 130, 20);
const GREEN: RGBColor = RGBColor(30, 140, 70);
const GREY: RGBColor = RGBColor(110, 110, 110);

fn fail<E: std::fmt::Display>(e: E) -> Error {
    Error::Failure(format!("cannot draw a chart: {e}"))
}

/// Money units for an axis: divisor and words ("million yuan").
#[derive(Clone, Copy)]
struct Unit {
    div: f64,
    words: &'static str,
}

fn unit_for(max: f64) -> Unit {
    if max >= 2e9 {
        Unit {
            div: 1e9,
            words: "billion",
        }
    } else {
        Unit {
            div: 1e6,
            words: "million",
        }
    }
}

/// Draws one chart on a white SVG page of `size` pixels; returns the SVG.
fn draw_svg(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), Error>,
) -> Result<String, Error> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(fail)?;
        draw(&root)?;
        root.present().map_err(fail)?;
    }
    Ok(svg)
}

/// The legend of a chart's labelled series, at `at`.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    at: SeriesLabelPosition,
) -> Result<(), Error> {
    chart
        .configure_series_labels()
        .position(at)
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.9))
        .border_style(GREY)
        .draw()
        .map_err(fail)
}

/// A chart's file name and SVG text.
pub struct Chart {
    /// File name, `NAME.svg`.
    pub name: String,
    /// Title, as drawn.
    pub title: String,
    /// The SVG document.
    pub svg: String,
}

/// Every chart of a run's result.
pub fn run_charts(r: &RunResult) -> Result<Vec<Chart>, Error> {
    let mut out = vec![
        claims_distribution(r)?,
        depletion_by_year(r)?,
        balance_fan(r)?,
    ];
    if let Some(c) = contributions(r)? {
        out.push(c);
    }
    Ok(out)
}

/// Writes charts into `dir` (created if missing); returns the files.
pub fn write_charts(dir: &Path, charts: &[Chart]) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Failure(format!("cannot create {}: {e}", dir.display())))?;
    charts
        .iter()
        .map(|c| {
            let path = dir.join(&c.name);
            write_atomic(&path, c.svg.as_bytes())?;
            Ok(path)
        })
        .collect()
}

fn title_of(r: &RunResult, what: &str) -> String {
    match &r.scenario.stress {
        Some(s) => format!("{}: {what} (stress {s})", r.scenario.name),
        None => format!("{}: {what}", r.scenario.name),
    }
}

/// The chance that total claims exceed each amount (log scale), with the
/// pool's money, the 99% VaR and the 99% expected shortfall marked.
pub fn claims_distribution(r: &RunResult) -> Result<Chart, Error> {
    let cur = currency_word(&r.scenario.currency);
    let curve: Vec<(f64, f64)> = r
        .distributions
        .claims
        .iter()
        .map(|&[level, q]| (q, 1.0 - level))
        .filter(|&(_, p)| p > 0.0)
        .collect();
    let var99 = r.totals.claims.quantiles.p99;
    let es99 = r.totals.claims.expected_shortfall.p99;
    let money = r.portfolio.pool_money;
    let xmax = curve
        .iter()
        .map(|p| p.0)
        .fold(money.max(es99), f64::max)
        .max(1.0)
        * 1.08;
    let unit = unit_for(xmax);
    let pmin = curve.iter().map(|p| p.1).fold(1.0, f64::min).min(1e-3) * 0.5;
    let title = title_of(r, "total claims on the pool");
    let svg = draw_svg(SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(&title, TITLE)
            .margin(20)
            .x_label_area_size(55)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..xmax / unit.div, (pmin..1.0f64).log_scale())
            .map_err(fail)?;
        chart
            .configure_mesh()
            .x_desc(format!(
                "Total claims over {} ledger years ({} {cur})",
                r.ledger_years, unit.words
            ))
            .y_desc("Chance of exceeding (log scale)")
            .y_label_formatter(&|p| percent(*p))
            .axis_desc_style(LABEL)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(fail)?;
        chart
            .draw_series(LineSeries::new(
                curve.iter().map(|&(x, p)| (x / unit.div, p)),
                BLUE.stroke_width(3),
            ))
            .map_err(fail)?
            .label("chance claims exceed the amount")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], BLUE.stroke_width(3)));
        let marks = [
            (money, RED, format!("pool money {:.0}", money / unit.div)),
            (var99, ORANGE, format!("99% VaR {:.0}", var99 / unit.div)),
            (es99, GREEN, format!("99% ES {:.0}", es99 / unit.div)),
        ];
        for (x, color, label) in marks {
            chart
                .draw_series(LineSeries::new(
                    vec![(x / unit.div, pmin), (x / unit.div, 1.0)],
                    color.stroke_width(2),
                ))
                .map_err(fail)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2))
                });
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })?;
    Ok(Chart {
        name: "claims-distribution.svg".into(),
        title,
        svg,
    })
}

/// The chance the pool has run dry by the end of each ledger year, with
/// 95% intervals.
pub fn depletion_by_year(r: &RunResult) -> Result<Chart, Error> {
    let years = &r.depletion.by_year;
    let top = years
        .iter()
        .map(|y| y.probability.ci95[1])
        .fold(0.0, f64::max)
        .max(1e-6)
        * 1.2;
    let title = title_of(r, "chance the pool has run dry");
    let n = years.len().max(1) as f64;
    let svg = draw_svg(SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(&title, TITLE)
            .margin(20)
            .x_label_area_size(55)
            .y_label_area_size(90)
            .build_cartesian_2d(0.5f64..n + 0.5, 0f64..top)
            .map_err(fail)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(years.len().max(2))
            .x_label_formatter(&|x| {
                if (x - x.round()).abs() < 1e-9 && *x >= 1.0 {
                    format!("{}", x.round() as i64)
                } else {
                    String::new()
                }
            })
            .x_desc("By the end of ledger year")
            .y_desc("Chance the pool has run dry")
            .y_label_formatter(&|p| percent(*p))
            .axis_desc_style(LABEL)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(fail)?;
        chart
            .draw_series(years.iter().map(|y| {
                let x = f64::from(y.year);
                Rectangle::new(
                    [(x - 0.3, 0.0), (x + 0.3, y.probability.estimate)],
                    BLUE.mix(0.8).filled(),
                )
            }))
            .map_err(fail)?
            .label("estimate")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], BLUE.mix(0.8).filled()));
        chart
            .draw_series(years.iter().map(|y| {
                let x = f64::from(y.year);
                let [lo, hi] = y.probability.ci95;
                PathElement::new(
                    vec![
                        (x - 0.08, lo),
                        (x + 0.08, lo),
                        (x, lo),
                        (x, hi),
                        (x - 0.08, hi),
                        (x + 0.08, hi),
                    ],
                    BLACK.stroke_width(2),
                )
            }))
            .map_err(fail)?
            .label("95% interval")
            .legend(|(x, y)| {
                PathElement::new(vec![(x + 9, y - 7), (x + 9, y + 7)], BLACK.stroke_width(2))
            });
        chart
            .draw_series(years.iter().map(|y| {
                Text::new(
                    percent(y.probability.estimate),
                    (f64::from(y.year) - 0.25, y.probability.ci95[1] + top * 0.03),
                    ("sans-serif", 15),
                )
            }))
            .map_err(fail)?;
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    })?;
    Ok(Chart {
        name: "depletion-by-year.svg".into(),
        title,
        svg,
    })
}

/// Percentiles of the pool's balance at the end of each ledger year: bands
/// from 1 to 99%, 5 to 95% and 25 to 75%, and the median.
pub fn balance_fan(r: &RunResult) -> Result<Chart, Error> {
    let cur = currency_word(&r.scenario.currency);
    let fan = &r.distributions.balance_fan;
    let start = r.portfolio.initial_balance;
    // The quantile at a level, per year, starting from the initial balance.
    let series = |level: f64| -> Vec<(f64, f64)> {
        std::iter::once((0.0, start))
            .chain(fan.iter().enumerate().filter_map(|(t, qs)| {
                qs.iter()
                    .find(|q| (q[0] - level).abs() < 1e-9)
                    .map(|q| ((t + 1) as f64, q[1]))
            }))
            .collect()
    };
    let ymax = fan
        .iter()
        .flatten()
        .map(|q| q[1])
        .fold(start, f64::max)
        .max(1.0)
        * 1.1;
    let unit = unit_for(ymax);
    let years = fan.len().max(1) as f64;
    let title = title_of(r, "the pool's balance, percentiles by year");
    let svg = draw_svg(SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(&title, TITLE)
            .margin(20)
            .x_label_area_size(55)
            .y_label_area_size(90)
            .build_cartesian_2d(0f64..years, 0f64..ymax / unit.div)
            .map_err(fail)?;
        chart
            .configure_mesh()
            .x_labels(fan.len() + 1)
            .x_label_formatter(&|x| format!("{}", x.round() as i64))
            .x_desc("End of ledger year (0 = start)")
            .y_desc(format!("Balance ({} {cur})", unit.words))
            .axis_desc_style(LABEL)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(fail)?;
        for (lo, hi, alpha, label) in [
            (0.01, 0.99, 0.25, "1% to 99%"),
            (0.05, 0.95, 0.45, "5% to 95%"),
            (0.25, 0.75, 0.7, "25% to 75%"),
        ] {
            let low = series(lo);
            let high = series(hi);
            let mut poly: Vec<(f64, f64)> = high.iter().map(|&(x, y)| (x, y / unit.div)).collect();
            poly.extend(low.iter().rev().map(|&(x, y)| (x, y / unit.div)));
            let style = LIGHT_BLUE.mix(alpha).filled();
            chart
                .draw_series(std::iter::once(Polygon::new(poly, style)))
                .map_err(fail)?
                .label(label)
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], style));
        }
        chart
            .draw_series(LineSeries::new(
                series(0.5).into_iter().map(|(x, y)| (x, y / unit.div)),
                BLUE.stroke_width(3),
            ))
            .map_err(fail)?
            .label("median")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], BLUE.stroke_width(3)));
        legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
        Ok(())
    })?;
    Ok(Chart {
        name: "balance-fan.svg".into(),
        title,
        svg,
    })
}

/// Each segment's and bank's share of the 99% expected shortfall of total
/// claims; None when there is nothing to split (one segment and one bank,
/// or no ES).
pub fn contributions(r: &RunResult) -> Result<Option<Chart>, Error> {
    let es = r.totals.claims.expected_shortfall.p99;
    if es <= 0.0 {
        return Ok(None);
    }
    let mut bars: Vec<(String, f64)> = Vec::new();
    if r.by_segment.len() > 1 {
        bars.extend(r.by_segment.iter().filter_map(|s| {
            s.claims_es99_contribution
                .map(|c| (format!("segment {}", s.name), c / es))
        }));
    }
    if r.by_bank.len() > 1 {
        bars.extend(r.by_bank.iter().filter_map(|b| {
            b.claims_es99_contribution
                .map(|c| (format!("bank {}", b.name), c / es))
        }));
    }
    if bars.is_empty() {
        return Ok(None);
    }
    let top = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(0.01) * 1.2;
    let n = bars.len();
    let title = title_of(r, "shares of the 99% expected shortfall of claims");
    let height = (SIZE.1).max(120 + 42 * n as u32);
    let svg = draw_svg((SIZE.0, height), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(&title, TITLE)
            .margin(20)
            .x_label_area_size(55)
            .y_label_area_size(230)
            .build_cartesian_2d(0f64..top, 0f64..n as f64)
            .map_err(fail)?;
        let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n * 2 + 1)
            .y_label_formatter(&|y| {
                let k = y - 0.5;
                if (k - k.round()).abs() < 1e-6 && k >= 0.0 && (k.round() as usize) < names.len() {
                    names[names.len() - 1 - k.round() as usize].clone()
                } else {
                    String::new()
                }
            })
            .x_label_formatter(&|x| percent(*x))
            .x_desc("Share of ES99 of total claims")
            .axis_desc_style(LABEL)
            .label_style(("sans-serif", 15))
            .draw()
            .map_err(fail)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                let y = (n - 1 - i) as f64;
                let color = if b.0.starts_with("bank") {
                    ORANGE
                } else {
                    BLUE
                };
                Rectangle::new([(0.0, y + 0.15), (b.1, y + 0.85)], color.mix(0.85).filled())
            }))
            .map_err(fail)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                let y = (n - 1 - i) as f64;
                Text::new(
                    percent(b.1),
                    (b.1 + top * 0.01, y + 0.62),
                    ("sans-serif", 15),
                )
            }))
            .map_err(fail)?;
        Ok(())
    })?;
    Ok(Some(Chart {
        name: "es99-contributions.svg".into(),
        title,
        svg,
    }))
}

/// One point of a sweep, as charts need it.
pub struct SweepPoint {
    /// The varied keys' values, as written.
    pub values: Vec<String>,
    /// The same, as numbers where they are numbers.
    pub numbers: Vec<Option<f64>>,
    /// Depletion probability and its 95% interval.
    pub depletion: f64,
    /// 95% interval of the depletion probability.
    pub ci95: [f64; 2],
}

/// The sweep's chart: depletion against the key (one numeric key), or a
/// heatmap over two keys.
pub fn sweep_chart(
    name: &str,
    keys: &[String],
    points: &[SweepPoint],
) -> Result<Option<Chart>, Error> {
    match keys.len() {
        1 if points.iter().all(|p| p.numbers[0].is_some()) => {
            sweep_curve(name, &keys[0], points).map(Some)
        }
        2 => sweep_heatmap(name, keys, points).map(Some),
        _ => Ok(None),
    }
}

fn axis_words(key: &str, values: &[f64]) -> (f64, String) {
    let money = key.contains("balance")
        || key.contains("top_up")
        || key.contains("budget")
        || key.contains("exposure")
        || key.contains("claim");
    let max = values.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
    if money && max >= 1e6 {
        let u = unit_for(max);
        (u.div, format!("{key} ({} yuan)", u.words))
    } else {
        (1.0, key.to_string())
    }
}

fn sweep_curve(name: &str, key: &str, points: &[SweepPoint]) -> Result<Chart, Error> {
    let xs: Vec<f64> = points.iter().map(|p| p.numbers[0].unwrap_or(0.0)).collect();
    let (div, xdesc) = axis_words(key, &xs);
    let (x0, x1) = xs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let pad = ((x1 - x0) * 0.05).max(x1.abs() * 0.01).max(1e-9);
    let top = points
        .iter()
        .map(|p| p.ci95[1])
        .fold(0.0, f64::max)
        .max(1e-6)
        * 1.15;
    let title = format!("{name}: chance the pool runs dry, by {key}");
    let svg = draw_svg(SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(&title, TITLE)
            .margin(20)
            .x_label_area_size(55)
            .y_label_area_size(90)
            .build_cartesian_2d((x0 - pad) / div..(x1 + pad) / div, 0f64..top)
            .map_err(fail)?;
        chart
            .configure_mesh()
            .x_desc(xdesc)
            .y_desc("Chance the pool runs dry over the horizon")
            .y_label_formatter(&|p| percent(*p))
            .axis_desc_style(LABEL)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(fail)?;
        let mut band: Vec<(f64, f64)> = points
            .iter()
            .zip(&xs)
            .map(|(p, &x)| (x / div, p.ci95[1]))
            .collect();
        band.extend(
            points
                .iter()
                .zip(&xs)
                .rev()
                .map(|(p, &x)| (x / div, p.ci95[0])),
        );
        chart
            .draw_series(std::iter::once(Polygon::new(
                band,
                LIGHT_BLUE.mix(0.6).filled(),
            )))
            .map_err(fail)?
            .label("95% interval")
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 6), (x + 18, y + 6)], LIGHT_BLUE.mix(0.6).filled())
            });
        chart
            .draw_series(LineSeries::new(
                points.iter().zip(&xs).map(|(p, &x)| (x / div, p.depletion)),
                BLUE.stroke_width(3),
            ))
            .map_err(fail)?
            .label("estimate")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], BLUE.stroke_width(3)));
        chart
            .draw_series(
                points
                    .iter()
                    .zip(&xs)
                    .map(|(p, &x)| Circle::new((x / div, p.depletion), 4, BLUE.filled())),
            )
            .map_err(fail)?;
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })?;
    Ok(Chart {
        name: "sweep.svg".into(),
        title,
        svg,
    })
}

fn sweep_heatmap(name: &str, keys: &[String], points: &[SweepPoint]) -> Result<Chart, Error> {
    let mut xs: Vec<String> = Vec::new();
    let mut ys: Vec<String> = Vec::new();
    for p in points {
        if !xs.contains(&p.values[1]) {
            xs.push(p.values[1].clone());
        }
        if !ys.contains(&p.values[0]) {
            ys.push(p.values[0].clone());
        }
    }
    let top = points
        .iter()
        .map(|p| p.depletion)
        .fold(0.0, f64::max)
        .max(1e-12);
    let floor = points
        .iter()
        .map(|p| p.depletion)
        .filter(|&d| d > 0.0)
        .fold(top, f64::min);
    let title = format!("{name}: chance the pool runs dry (darker is likelier)");
    let (nx, ny) = (xs.len(), ys.len());
    let svg = draw_svg(SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(&title, TITLE)
            .margin(20)
            .x_label_area_size(55)
            .y_label_area_size(120)
            .build_cartesian_2d(0f64..nx as f64, 0f64..ny as f64)
            .map_err(fail)?;
        let (xl, yl) = (xs.clone(), ys.clone());
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(nx * 2 + 1)
            .y_labels(ny * 2 + 1)
            .x_label_formatter(&|x| cell_label(&xl, *x))
            .y_label_formatter(&|y| cell_label(&yl, *y))
            .x_desc(keys[1].as_str())
            .y_desc(keys[0].as_str())
            .axis_desc_style(LABEL)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(fail)?;
        chart
            .draw_series(points.iter().map(|p| {
                let i = xs.iter().position(|v| *v == p.values[1]).unwrap_or(0) as f64;
                let j = ys.iter().position(|v| *v == p.values[0]).unwrap_or(0) as f64;
                let t = shade(p.depletion, floor, top);
                // White (never) to deep red (the worst point).
                let color = RGBColor(
                    255 - (55.0 * t) as u8,
                    255 - (215.0 * t) as u8,
                    255 - (215.0 * t) as u8,
                );
                Rectangle::new([(i, j), (i + 1.0, j + 1.0)], color.filled())
            }))
            .map_err(fail)?;
        chart
            .draw_series(points.iter().map(|p| {
                let i = xs.iter().position(|v| *v == p.values[1]).unwrap_or(0) as f64;
                let j = ys.iter().position(|v| *v == p.values[0]).unwrap_or(0) as f64;
                Text::new(
                    percent(p.depletion),
                    (i + 0.3, j + 0.55),
                    ("sans-serif", 16),
                )
            }))
            .map_err(fail)?;
        Ok(())
    })?;
    Ok(Chart {
        name: "sweep.svg".into(),
        title,
        svg,
    })
}

/// A cell's shade from 0 (white) to 1 (deep red): on a log scale when the
/// probabilities span more than a factor of ten, so rare and likely
/// designs both show.
fn shade(p: f64, floor: f64, top: f64) -> f64 {
    if p <= 0.0 {
        0.0
    } else if top > 10.0 * floor {
        (0.1 + 0.9 * (p / floor).ln() / (top / floor).ln()).clamp(0.0, 1.0)
    } else {
        (p / top).clamp(0.0, 1.0)
    }
}

/// The label of the cell whose centre is at `x` (`k + 0.5`), else empty.
fn cell_label(labels: &[String], x: f64) -> String {
    let k = x - 0.5;
    if k >= 0.0 && (k - k.round()).abs() < 1e-6 {
        labels.get(k.round() as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}
