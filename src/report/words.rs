//! Small pieces of wording shared by every output: plurals, shell quoting, the replay command
//! and durations in human units.

/// Counts per workload as `name<sep>count`, joined by commas (`east 0, west 12`).
pub fn per_workload(counts: &std::collections::BTreeMap<String, u64>, sep: &str) -> String {
    let parts: Vec<String> = counts.iter().map(|(w, n)| format!("{w}{sep}{n}")).collect();
    parts.join(", ")
}

/// `1 key`, `2 keys`: a count with its noun, plural when it is not one.
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `word` quoted for a POSIX shell when it needs to be (`'it'\''s'`), unchanged otherwise.
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The command that replays a run: the scenario file, every `--set` override and the seed,
/// shell-quoted. (A scenario read from stdin replays with the same text on stdin.)
pub fn replay_command(file: &str, seed: u64, overrides: &[String]) -> String {
    let mut cmd = format!("simkv run {}", shell_quote(file));
    for o in overrides {
        cmd.push_str(&format!(" --set {}", shell_quote(o)));
    }
    cmd.push_str(&format!(" --seed {seed}"));
    cmd
}

/// A duration in the largest unit that states it exactly: `60s`, `250ms`, `1.5s`,
/// `102.506839333s` (scenario files read all of these back to the same nanosecond).
pub fn human_duration(ns: u64) -> String {
    const NANOS_PER_S: u64 = 1_000_000_000;
    for (unit, scale) in [("h", 3600 * NANOS_PER_S), ("m", 60 * NANOS_PER_S)] {
        if ns >= scale && ns.is_multiple_of(scale) {
            return format!("{}{unit}", ns / scale);
        }
    }
    if ns >= NANOS_PER_S || ns == 0 {
        let frac = format!("{:09}", ns % NANOS_PER_S);
        let frac = frac.trim_end_matches('0');
        let dot = if frac.is_empty() { "" } else { "." };
        return format!("{}{dot}{frac}s", ns / NANOS_PER_S);
    }
    for (unit, scale) in [("ms", 1_000_000), ("us", 1_000)] {
        if ns.is_multiple_of(scale) {
            return format!("{}{unit}", ns / scale);
        }
    }
    format!("{ns}ns")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse_duration;

    #[test]
    fn durations_read_back_exactly() {
        for ns in [
            0,
            1,
            1_500,
            250_000_000,
            1_500_000_000,
            60_000_000_000,
            102_506_839_333,
        ] {
            let text = human_duration(ns);
            assert_eq!(parse_duration(&text), Ok(ns), "{text}");
            assert!(text.len() < 16, "{text}");
        }
        assert_eq!(human_duration(102_506_839_333), "102.506839333s");
        assert_eq!(human_duration(7_200_000_000_000), "2h");
        assert_eq!(human_duration(250_000_000), "250ms");
    }

    #[test]
    fn words() {
        assert_eq!(plural(1, "key"), "1 key");
        assert_eq!(plural(0, "key"), "0 keys");
        assert_eq!(shell_quote("a=b"), "a=b");
        assert_eq!(shell_quote("name=it's"), r"'name=it'\''s'");
        assert_eq!(
            replay_command("my dir/x.toml", 7, &["a.b=1 2".into()]),
            "simkv run 'my dir/x.toml' --set 'a.b=1 2' --seed 7"
        );
    }
}
