//! Readers for Porcupine's test logs: Jepsen etcd register logs and the kv (EDN) logs. File order
//! is real-time order; a completion matches its process's most recent open invoke; `:info` lines
//! leave the operation open, so it returns (with an unknown output) at the end of the history.

use std::collections::BTreeMap;

use super::model::{RegisterInput, RegisterOutput, StringInput, StringOutput};
use super::search::Op;

/// A parse error with its 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogError {
    /// Line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn int(s: &str, line: usize) -> Result<u32, LogError> {
    s.parse().map_err(|_| LogError {
        line,
        message: format!("expected an integer, found `{s}`"),
    })
}

/// Parses a Jepsen etcd log into register operations.
pub fn parse_etcd(text: &str) -> Result<Vec<Op<RegisterInput, RegisterOutput>>, LogError> {
    let mut ops: Vec<Op<RegisterInput, RegisterOutput>> = Vec::new();
    let mut open: BTreeMap<u32, usize> = BTreeMap::new();
    let mut t = 0u64;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let fields: Vec<&str> = raw.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() < 6 || fields[0] != "INFO" || fields[1] != "jepsen.util" || fields[2] != "-"
        {
            return Err(LogError {
                line,
                message:
                    "not a Jepsen log line (`INFO  jepsen.util - <process> <type> <f> <value>`)"
                        .into(),
            });
        }
        t += 1;
        let process = int(fields[3], line)?;
        let (kind, f, value) = (fields[4], fields[5], &fields[6..]);
        match kind {
            ":invoke" => {
                let input = match (f, value) {
                    (":read", _) => RegisterInput::Read,
                    (":write", [v]) => RegisterInput::Write(int(v, line)?),
                    (":cas", [a, b]) => RegisterInput::Cas(
                        int(a.trim_start_matches('['), line)?,
                        int(b.trim_end_matches(']'), line)?,
                    ),
                    _ => {
                        return Err(LogError {
                            line,
                            message: format!("unknown invocation `{f}`"),
                        });
                    }
                };
                open.insert(process, ops.len());
                ops.push(Op {
                    call: t,
                    ret: u64::MAX,
                    input,
                    output: RegisterOutput::Unknown,
                });
            }
            ":ok" | ":fail" => {
                let Some(idx) = open.remove(&process) else {
                    return Err(LogError {
                        line,
                        message: format!(
                            "process {process} completes an operation it never invoked"
                        ),
                    });
                };
                let op = &mut ops[idx];
                op.ret = t;
                op.output = match (kind, f, value) {
                    (_, _, [":timed-out"]) => RegisterOutput::Unknown,
                    (":ok", ":read", ["nil"]) => RegisterOutput::Value(None),
                    (":ok", ":read", [v]) => RegisterOutput::Value(Some(int(v, line)?)),
                    (":ok", ":write", _) => RegisterOutput::Done,
                    (":ok", ":cas", _) => RegisterOutput::CasOk,
                    (":fail", ":cas", _) => RegisterOutput::CasFail,
                    _ => {
                        return Err(LogError {
                            line,
                            message: format!("unexpected completion `{kind} {f}`"),
                        });
                    }
                };
            }
            // The operation stays open and returns, unknown, at the end of the history.
            ":info" => {}
            other => {
                return Err(LogError {
                    line,
                    message: format!("unknown event type `{other}`"),
                });
            }
        }
    }
    Ok(ops)
}

fn edn_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(key)? + key.len();
    let rest = line[start..].trim_start();
    if let Some(quoted) = rest.strip_prefix('"') {
        let end = quoted.find('"')?;
        return Some(&quoted[..end]);
    }
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

/// Parses a kv EDN log into per-key string operations.
pub fn parse_kv(
    text: &str,
) -> Result<BTreeMap<String, Vec<Op<StringInput, StringOutput>>>, LogError> {
    let mut ops: Vec<(String, Op<StringInput, StringOutput>)> = Vec::new();
    let mut open: BTreeMap<u32, usize> = BTreeMap::new();
    let mut t = 0u64;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let bad = |m: &str| LogError {
            line,
            message: m.to_string(),
        };
        t += 1;
        let process = int(
            edn_field(raw, ":process").ok_or_else(|| bad("no :process"))?,
            line,
        )?;
        let kind = edn_field(raw, ":type").ok_or_else(|| bad("no :type"))?;
        let f = edn_field(raw, ":f").ok_or_else(|| bad("no :f"))?;
        let value = edn_field(raw, ":value").ok_or_else(|| bad("no :value"))?;
        match kind {
            ":invoke" => {
                let key = edn_field(raw, ":key")
                    .ok_or_else(|| bad("no :key"))?
                    .to_string();
                let input = match f {
                    ":get" => StringInput::Get,
                    ":put" => StringInput::Put(value.to_string()),
                    ":append" => StringInput::Append(value.to_string()),
                    other => return Err(bad(&format!("unknown :f {other}"))),
                };
                open.insert(process, ops.len());
                ops.push((
                    key,
                    Op {
                        call: t,
                        ret: u64::MAX,
                        input,
                        output: StringOutput::Unknown,
                    },
                ));
            }
            ":ok" => {
                let idx = open
                    .remove(&process)
                    .ok_or_else(|| bad("completion without an invoke"))?;
                let op = &mut ops[idx].1;
                op.ret = t;
                op.output = match op.input {
                    StringInput::Get => StringOutput::Value(value.to_string()),
                    _ => StringOutput::Done,
                };
            }
            other => return Err(bad(&format!("unknown :type {other}"))),
        }
    }
    let mut by_key: BTreeMap<String, Vec<Op<StringInput, StringOutput>>> = BTreeMap::new();
    for (k, op) in ops {
        by_key.entry(k).or_default().push(op);
    }
    Ok(by_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_lines_with_tabs_or_spaces() {
        let log = "INFO  jepsen.util - 1\t:invoke\t:write\t3\nINFO  jepsen.util - 2   :invoke :cas  [3 4]\nINFO  jepsen.util - 1\t:ok\t:write\t3\nINFO  jepsen.util - 2\t:info\t:cas\t:timed-out\n";
        let ops = parse_etcd(log).unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].input, RegisterInput::Write(3));
        assert_eq!(ops[0].ret, 3);
        assert_eq!(ops[1].input, RegisterInput::Cas(3, 4));
        assert_eq!(ops[1].ret, u64::MAX, "an :info operation stays open");
        assert_eq!(parse_etcd("garbage").unwrap_err().line, 1);
    }

    #[test]
    fn kv_lines() {
        let log = "{:process 0, :type :invoke, :f :append, :key \"3\", :value \"x 0 0 y\"}\n{:process 0, :type :ok, :f :append, :key \"3\", :value \"x 0 0 y\"}\n{:process 0, :type :invoke, :f :get, :key \"3\", :value nil}\n{:process 0, :type :ok, :f :get, :key \"3\", :value \"x 0 0 y\"}\n";
        let by_key = parse_kv(log).unwrap();
        let ops = &by_key["3"];
        assert_eq!(ops[0].input, StringInput::Append("x 0 0 y".into()));
        assert_eq!(ops[1].output, StringOutput::Value("x 0 0 y".into()));
        assert_eq!(
            super::super::detect(log),
            Some(super::super::Format::PorcupineKv)
        );
    }
}
