//! Greedy minimisation: remove whole lines, then chunks of bytes (halves, quarters, down to
//! single bytes), while the input still fails the same way, within a budget of attempts.

/// The smallest input found for which `still_fails` holds, trying at most `budget` candidates.
/// `still_fails(input)` must hold for `input` itself.
pub fn minimise(
    input: &[u8],
    budget: usize,
    mut still_fails: impl FnMut(&[u8]) -> bool,
) -> Vec<u8> {
    let mut current = input.to_vec();
    let mut tries = 0;
    loop {
        let before = current.len();
        remove_lines(&mut current, &mut tries, budget, &mut still_fails);
        let mut chunk = (current.len() / 2).max(1);
        loop {
            remove_chunks(&mut current, chunk, &mut tries, budget, &mut still_fails);
            if chunk == 1 || tries >= budget {
                break;
            }
            chunk /= 2;
        }
        if current.len() == before || tries >= budget {
            return current;
        }
    }
}

/// One pass removing each line (with its newline) that is not needed.
fn remove_lines(
    current: &mut Vec<u8>,
    tries: &mut usize,
    budget: usize,
    still_fails: &mut impl FnMut(&[u8]) -> bool,
) {
    let mut start = 0;
    while start < current.len() && *tries < budget {
        let end = current[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(current.len(), |i| start + i + 1);
        *tries += 1;
        let mut candidate = current[..start].to_vec();
        candidate.extend_from_slice(&current[end..]);
        if still_fails(&candidate) {
            *current = candidate;
        } else {
            start = end;
        }
    }
}

/// One pass removing chunks of `chunk` bytes that are not needed.
fn remove_chunks(
    current: &mut Vec<u8>,
    chunk: usize,
    tries: &mut usize,
    budget: usize,
    still_fails: &mut impl FnMut(&[u8]) -> bool,
) {
    let mut i = 0;
    while i < current.len() && *tries < budget {
        *tries += 1;
        let end = (i + chunk).min(current.len());
        let mut candidate = Vec::with_capacity(current.len() - (end - i));
        candidate.extend_from_slice(&current[..i]);
        candidate.extend_from_slice(&current[end..]);
        if still_fails(&candidate) {
            *current = candidate;
        } else {
            i += chunk;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::minimise;

    #[test]
    fn keeps_only_the_bytes_that_matter() {
        let input = b"name = \"x\"\n[servers]\nbad = 1e308\nother = 2\n";
        let out = minimise(input, 10_000, |c| {
            String::from_utf8_lossy(c).contains("1e3") && c.contains(&b'[')
        });
        assert_eq!(out, b"[1e3");
    }

    #[test]
    fn removes_lines_that_only_break_the_syntax_when_cut_in_part() {
        let input = b"f=\"\"\n[w]\nthink=\".9h\"\n[x]\nt=8";
        // Fails when the text is balanced in quotes and still holds the bad value.
        let out = minimise(input, 10_000, |c| {
            c.iter().filter(|&&b| b == b'"').count() % 2 == 0
                && String::from_utf8_lossy(c).contains("think=\".9h\"")
        });
        assert_eq!(out, b"think=\".9h\"");
    }

    #[test]
    fn stops_at_the_budget() {
        let input = vec![b'a'; 1000];
        let mut calls = 0;
        let out = minimise(&input, 5, |_| {
            calls += 1;
            false
        });
        assert_eq!((calls, out.len()), (5, 1000));
    }
}
