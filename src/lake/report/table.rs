//! The report's content as plain tables, rendered alike in the terminal and in HTML.

use super::Report;

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub title: &'static str,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Whether every cell of column `i` is a number (rendered right-aligned).
    pub fn numeric(&self, i: usize) -> bool {
        self.rows
            .iter()
            .all(|row| row[i].parse::<f64>().is_ok() || row[i].ends_with('%'))
    }
}

pub fn records_per_day(report: &Report) -> Table {
    Table {
        title: "Records per day",
        headers: vec!["dataset", "day", "files", "rows", "bytes"],
        rows: report
            .days
            .iter()
            .map(|(p, t)| {
                vec![
                    p.dataset_path(),
                    p.day.to_string(),
                    t.files.to_string(),
                    t.rows.to_string(),
                    t.bytes.to_string(),
                ]
            })
            .collect(),
    }
}

pub fn storage_growth(report: &Report) -> Table {
    Table {
        title: "Storage growth (bytes by event day)",
        headers: vec!["day", "bytes", "cumulative bytes"],
        rows: report
            .storage_growth()
            .into_iter()
            .map(|(day, bytes, total)| vec![day.to_string(), bytes.to_string(), total.to_string()])
            .collect(),
    }
}

pub fn quality(report: &Report) -> Table {
    Table {
        title: "Quality trend (overall score, weighted by records)",
        headers: vec!["day", "dataset", "records", "overall"],
        rows: report
            .quality
            .iter()
            .filter_map(|((day, dataset), q)| {
                Some(vec![
                    day.to_string(),
                    dataset.clone(),
                    q.records.to_string(),
                    format!("{:.4}", q.overall()?),
                ])
            })
            .collect(),
    }
}

pub fn top_reasons(report: &Report) -> Table {
    Table {
        title: "Top quarantine reasons",
        headers: vec!["count", "share", "reason"],
        rows: report
            .top_reasons
            .iter()
            .map(|(reason, count)| {
                let share = 100.0 * *count as f64 / report.quarantined.max(1) as f64;
                vec![count.to_string(), format!("{share:.1}%"), reason.clone()]
            })
            .collect(),
    }
}

pub fn all(report: &Report) -> Vec<Table> {
    vec![
        records_per_day(report),
        storage_growth(report),
        quality(report),
        top_reasons(report),
    ]
}
