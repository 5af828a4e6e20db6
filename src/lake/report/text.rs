//! The report's tables as aligned text.

use std::fmt::Write;

use super::table::Table;

pub fn render(tables: &[Table]) -> String {
    let mut out = String::new();
    for table in tables {
        let _ = writeln!(out, "== {} ==", table.title);
        if table.rows.is_empty() {
            let _ = writeln!(out, "(none)\n");
            continue;
        }
        let widths: Vec<usize> = (0..table.headers.len())
            .map(|i| {
                table
                    .rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([table.headers[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(i, cell)| {
                    if table.numeric(i) {
                        format!("{cell:>w$}", w = widths[i])
                    } else {
                        format!("{cell:<w$}", w = widths[i])
                    }
                })
                .collect();
            padded.join("  ").trim_end().to_string()
        };
        let _ = writeln!(out, "{}", line(table.headers.clone()));
        for row in &table.rows {
            let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
        }
        let _ = writeln!(out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_numbers_go_right() {
        let table = Table {
            title: "T",
            headers: vec!["name", "n"],
            rows: vec![
                vec!["a".into(), "5".into()],
                vec!["long".into(), "123".into()],
            ],
        };
        assert_eq!(
            render(&[table]),
            "== T ==\nname    n\na       5\nlong  123\n\n"
        );
    }
}
