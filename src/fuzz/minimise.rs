//! Greedy minimisation: remove chunks of bytes (halves, then quarters, down to single bytes)
//! while the input still fails the same way, within a budget of attempts.

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
        let mut chunk = (current.len() / 2).max(1);
        loop {
            let mut i = 0;
            while i < current.len() {
                if tries == budget {
                    return current;
                }
                tries += 1;
                let end = (i + chunk).min(current.len());
                let mut candidate = Vec::with_capacity(current.len() - (end - i));
                candidate.extend_from_slice(&current[..i]);
                candidate.extend_from_slice(&current[end..]);
                if still_fails(&candidate) {
                    current = candidate;
                } else {
                    i += chunk;
                }
            }
            if chunk == 1 {
                break;
            }
            chunk /= 2;
        }
        if current.len() == before {
            return current;
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
