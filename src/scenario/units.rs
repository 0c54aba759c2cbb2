//! Human units in scenario files: durations (`"250ms"`, `"5s"`, `"2m"`), sizes (`"1mb"`,
//! `"16kb"`, Redis-style: k/kb = 1000/1024 like redis.conf), rates (`"500/s"`), percentages.

/// Parses a duration into nanoseconds: a non-negative number (integer or decimal) followed by
/// `ns`, `us`, `ms`, `s`, `m` or `h`.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("\"{t}\" has no unit"))?;
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(if t.starts_with('-') {
            format!("\"{t}\" is negative")
        } else {
            format!("\"{t}\" does not start with a number")
        });
    }
    let scale: u64 = match unit.trim() {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        other => return Err(format!("unknown time unit \"{other}\"")),
    };
    scaled(num, scale).ok_or_else(|| format!("\"{t}\" is not a valid duration"))
}

/// Parses a size into bytes: a number with an optional unit `b`, `k`/`kb`, `m`/`mb`, `g`/`gb`.
/// As in redis.conf, `k`, `m`, `g` are powers of 1000 and `kb`, `mb`, `gb` powers of 1024.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(if t.starts_with('-') {
            format!("\"{text}\" is negative")
        } else {
            format!("\"{text}\" does not start with a number")
        });
    }
    let scale: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" => 1_000,
        "kb" => 1 << 10,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        other => return Err(format!("unknown size unit \"{other}\"")),
    };
    scaled(num, scale).ok_or_else(|| format!("\"{text}\" is not a valid size"))
}

/// Parses a rate `"<n>/s"` (or `/m`, `/h`) into events per second, rounded down (at least 1).
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (num, per) = t
        .split_once('/')
        .ok_or_else(|| format!("\"{t}\" is not a rate; write e.g. \"500/s\""))?;
    let per_ns = parse_duration(&format!("1{}", per.trim()))?;
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("\"{num}\" is not a number"))?;
    if n.is_nan() || n <= 0.0 || !n.is_finite() {
        return Err(format!("\"{t}\" must be positive"));
    }
    Ok(((n * 1e9 / per_ns as f64) as u64).max(1))
}

/// Parses a percentage `"5%"` (or a plain fraction `0.05`) into parts per million.
pub fn parse_percent(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let v: f64 = match t.strip_suffix('%') {
        Some(p) => {
            p.trim()
                .parse::<f64>()
                .map_err(|_| format!("\"{t}\" is not a percentage"))?
                / 100.0
        }
        None => t
            .parse::<f64>()
            .map_err(|_| format!("\"{t}\" is not a percentage"))?,
    };
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("\"{t}\" must lie between 0% and 100%"));
    }
    Ok((v * 1e6).round() as u32)
}

fn scaled(num: &str, scale: u64) -> Option<u64> {
    match num.split_once('.') {
        None => num.parse::<u64>().ok()?.checked_mul(scale),
        Some((i, f)) => {
            let int = if i.is_empty() {
                0
            } else {
                i.parse::<u64>().ok()?
            };
            if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // In 128 bits: nine fraction digits times an hour in nanoseconds overflows 64.
            let frac =
                u128::from(f.parse::<u64>().ok()?) * u128::from(scale) / 10u128.pow(f.len() as u32);
            let frac_scaled = u64::try_from(frac).ok()?;
            int.checked_mul(scale)?.checked_add(frac_scaled)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(250_000_000));
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration("2m"), Ok(120_000_000_000));
        assert!(parse_duration("-5s").unwrap_err().contains("negative"));
        assert!(parse_duration("5 fortnights").is_err());
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("99999999999999h").is_err());
    }

    #[test]
    fn sizes_follow_redis_conf() {
        assert_eq!(parse_size("1mb"), Ok(1_048_576));
        assert_eq!(parse_size("1m"), Ok(1_000_000));
        assert_eq!(parse_size("16kb"), Ok(16_384));
        assert_eq!(parse_size("512"), Ok(512));
        assert!(parse_size("12 parsecs").is_err());
    }

    #[test]
    fn rates_and_percentages() {
        assert_eq!(parse_rate("500/s"), Ok(500));
        assert_eq!(parse_rate("60/m"), Ok(1));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("0/s").is_err());
        assert_eq!(parse_percent("5%"), Ok(50_000));
        assert_eq!(parse_percent("0.5"), Ok(500_000));
        assert!(parse_percent("150%").is_err());
    }
}
