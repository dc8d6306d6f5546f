//! Medians, ratios, the markdown table and the JSON document.

use serde_json::{json, Value};

use crate::workloads::{Params, Workload};

/// The median (the mean of the middle two for an even count); NaN for none.
pub fn median(xs: &mut [f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    let mid = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[mid]
    } else {
        (xs[mid - 1] + xs[mid]) / 2.0
    }
}

/// One scenario's numbers for one workload, a value per run.
pub struct Series {
    pub scenario: String,
    pub baseline: String,
    pub tls: bool,
    pub values: Vec<f64>,
    /// The proxy's CPU time per operation ([`Workload::op`]) in each run, µs; None without a
    /// proxy (direct) or when /proc could not say.
    pub cpu_per_op: Vec<Option<f64>>,
}

impl Series {
    /// The median of [`Series::cpu_per_op`] over the runs that have one.
    pub fn cpu_median(&self) -> Option<f64> {
        let mut known: Vec<f64> = self.cpu_per_op.iter().flatten().copied().collect();
        (!known.is_empty()).then(|| median(&mut known))
    }
}

pub struct Report {
    pub params: Params,
    pub runs: usize,
    pub skipped: Vec<String>,
    pub load_before: String,
    pub load_after: String,
    pub results: Vec<(Workload, Vec<Series>)>,
}

impl Report {
    fn baseline_of<'a>(&'a self, series: &'a [Series], s: &Series) -> Option<&'a Series> {
        series.iter().find(|b| b.scenario == s.baseline)
    }

    /// Each run's value over its baseline's in the same run (interleaved, so a load change
    /// between runs hits both), then the median of those.
    fn ratios(&self, series: &[Series], s: &Series) -> Option<(Vec<f64>, f64)> {
        self.ratios_to(self.baseline_of(series, s)?, s)
    }

    fn ratios_to(&self, base: &Series, s: &Series) -> Option<(Vec<f64>, f64)> {
        let ratios: Vec<f64> = s
            .values
            .iter()
            .zip(&base.values)
            .map(|(v, b)| v / b)
            .collect();
        let m = median(&mut ratios.clone());
        Some((ratios, m))
    }

    pub fn markdown(&self) -> String {
        let spliced = self
            .results
            .iter()
            .any(|(_, series)| series.iter().any(|s| s.scenario == "haproxy-splice"));
        let cols: Vec<&str> = [
            "direct",
            "boltgate",
            "haproxy",
            "haproxy-splice",
            "nginx",
            "routed",
            "pooled",
        ]
        .into_iter()
        .filter(|c| *c != "haproxy-splice" || spliced)
        .collect();
        let mut out = format!(
            "| workload (ratio to direct; TLS rows to direct-tls; median of {}) | {} |\n|---|{}\n",
            self.runs,
            cols.join(" | "),
            "---:|".repeat(cols.len())
        );
        for tls in [false, true] {
            for (workload, series) in &self.results {
                if !series.iter().any(|s| s.tls == tls) {
                    continue;
                }
                let mut row = format!(
                    "| {}{} |",
                    if tls { "TLS: " } else { "" },
                    workload.label(&self.params)
                );
                for &col in &cols {
                    let name = scenario_name(col, tls);
                    let cell = match series.iter().find(|s| s.scenario == name) {
                        Some(s) => match self.ratios(series, s) {
                            Some((_, m)) => format!("{m:.2}"),
                            None => "no baseline".into(),
                        },
                        None if self
                            .skipped
                            .iter()
                            .any(|k| k.starts_with(&format!("{name}:"))) =>
                        {
                            "skipped".into()
                        }
                        None => "-".into(),
                    };
                    row.push_str(&format!(" {cell} |"));
                }
                out.push_str(&row);
                out.push('\n');
            }
        }
        out.push_str(&self.cpu_markdown(&cols[1..]));
        out
    }

    /// The proxies' CPU per operation, a row per workload (plaintext, then TLS).
    fn cpu_markdown(&self, cols: &[&str]) -> String {
        let mut out = format!(
            "\n| proxy CPU, µs per operation (median of {}) | {} |\n|---|{}\n",
            self.runs,
            cols.join(" | "),
            "---:|".repeat(cols.len())
        );
        for tls in [false, true] {
            for (workload, series) in &self.results {
                if !series
                    .iter()
                    .any(|s| s.tls == tls && s.cpu_median().is_some())
                {
                    continue;
                }
                let mut row = format!(
                    "| {}{}: per {} |",
                    if tls { "TLS: " } else { "" },
                    workload.key(),
                    workload.op().0
                );
                for &col in cols {
                    let name = scenario_name(col, tls);
                    let cell = series
                        .iter()
                        .find(|s| s.scenario == name)
                        .and_then(Series::cpu_median)
                        .map_or("-".to_string(), |c| format!("{c:.1}"));
                    row.push_str(&format!(" {cell} |"));
                }
                out.push_str(&row);
                out.push('\n');
            }
        }
        out
    }

    pub fn json(&self) -> Value {
        let p = &self.params;
        let mut rows = Vec::new();
        for (workload, series) in &self.results {
            for s in series {
                let mut values = s.values.clone();
                let (ratios, median_ratio) = match self.ratios(series, s) {
                    Some((r, m)) => (json!(r), json!(m)),
                    None => (Value::Null, Value::Null),
                };
                // TLS rows against plaintext direct too: what TLS costs with each proxy.
                let to_plain = series
                    .iter()
                    .find(|b| s.tls && b.scenario == "direct")
                    .and_then(|plain| self.ratios_to(plain, s))
                    .map_or(Value::Null, |(_, m)| json!(m));
                rows.push(json!({
                    "workload": workload.key(),
                    "scenario": s.scenario,
                    "tls": s.tls,
                    "unit": workload.unit(),
                    "higher_is_better": workload.higher_is_better(),
                    "values": s.values,
                    "median": median(&mut values),
                    "baseline": s.baseline,
                    "ratios": ratios,
                    "median_ratio": median_ratio,
                    "median_ratio_to_plaintext_direct": to_plain,
                    "proxy_cpu_per": workload.op().0,
                    "proxy_cpu_us_per_op": s.cpu_per_op,
                    "proxy_cpu_us_per_op_median": s.cpu_median(),
                }));
            }
        }
        json!({
            "runs": self.runs,
            "release": !cfg!(debug_assertions),
            "params": {
                "small_rows": p.small_rows,
                "wide_rows": p.wide_rows,
                "first_rows": p.first_rows,
                "first_samples": p.first_samples,
                "concurrency": p.concurrency,
                "connect_parallel": p.connect_parallel,
                "duration_s": p.duration.as_secs_f64(),
            },
            "loadavg_before": self.load_before,
            "loadavg_after": self.load_after,
            "skipped": self.skipped,
            "results": rows,
        })
    }
}

/// A table column's scenario: `col`, or its TLS twin `col-tls`.
fn scenario_name(col: &str, tls: bool) -> String {
    if tls {
        format!("{col}-tls")
    } else {
        col.to_string()
    }
}

/// `/proc/loadavg`'s first three fields.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
