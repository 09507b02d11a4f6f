//! Pure parsing of one FTP control line: a client command (`USER bro`) or a server reply
//! (`530 Login incorrect.`). Only the first line of a segment is read; a multi-line reply
//! (`230-...`) is reported by its first line, which carries its code.

/// Longest line looked at; FTP lines are short, and this bounds the work on hostile input.
const MAX_LINE: usize = 512;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A client command, its verb upper-cased, with the rest of the line as argument.
    Command { verb: String, arg: String },
    /// A server reply: the three-digit code and the text after it.
    Reply { code: u16, text: String },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FtpError {
    #[error("empty line")]
    Empty,
    #[error("byte {offset}: not a reply code or command verb")]
    NotFtp { offset: usize },
    #[error("byte {offset}: control byte 0x{byte:02x} in an FTP line")]
    ControlByte { offset: usize, byte: u8 },
}

/// The first line of `payload`, without its line end, at most [`MAX_LINE`] bytes.
fn first_line(payload: &[u8]) -> &[u8] {
    let end = payload
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(payload.len())
        .min(MAX_LINE);
    let line = &payload[..end];
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn text(bytes: &[u8]) -> Result<String, FtpError> {
    if let Some(i) = bytes.iter().position(|&b| b < 0x20 && b != b'\t') {
        return Err(FtpError::ControlByte {
            offset: i,
            byte: bytes[i],
        });
    }
    Ok(String::from_utf8_lossy(bytes).trim().to_string())
}

/// Parses one control line. `from_server` says which side sent it: servers send replies,
/// clients send commands.
pub fn parse(payload: &[u8], from_server: bool) -> Result<Message, FtpError> {
    let line = first_line(payload);
    if line.is_empty() {
        return Err(FtpError::Empty);
    }
    if from_server {
        match line {
            [a, b, c, rest @ ..]
                if [a, b, c].iter().all(|d| d.is_ascii_digit())
                    && matches!(rest.first(), None | Some(b' ') | Some(b'-')) =>
            {
                let code = (*a - b'0') as u16 * 100 + (*b - b'0') as u16 * 10 + (*c - b'0') as u16;
                let t = text(rest.get(1..).unwrap_or(&[]))?;
                Ok(Message::Reply { code, text: t })
            }
            _ => Err(FtpError::NotFtp { offset: 0 }),
        }
    } else {
        let verb_len = line.iter().take_while(|b| b.is_ascii_alphabetic()).count();
        if !(3..=4).contains(&verb_len) || !matches!(line.get(verb_len), None | Some(b' ')) {
            return Err(FtpError::NotFtp {
                offset: verb_len.min(line.len()),
            });
        }
        let verb = String::from_utf8_lossy(&line[..verb_len]).to_ascii_uppercase();
        let arg = text(line.get(verb_len + 1..).unwrap_or(&[]))?;
        Ok(Message::Command { verb, arg })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_replies() {
        assert_eq!(
            parse(b"USER bro\r\n", false),
            Ok(Message::Command {
                verb: "USER".into(),
                arg: "bro".into()
            })
        );
        assert_eq!(
            parse(b"quit\r\n", false),
            Ok(Message::Command {
                verb: "QUIT".into(),
                arg: String::new()
            })
        );
        assert_eq!(
            parse(b"530 Login incorrect.\r\n", true),
            Ok(Message::Reply {
                code: 530,
                text: "Login incorrect.".into()
            })
        );
        assert_eq!(
            parse(b"230-Welcome\r\n230 Login successful.\r\n", true),
            Ok(Message::Reply {
                code: 230,
                text: "Welcome".into()
            })
        );
        assert!(parse(b"GET / HTTP/1.1\r\n", true).is_err());
        assert!(parse(b"\x16\x03\x01", false).is_err());
        assert!(parse(b"", false).is_err());
    }

    #[test]
    fn hostile_lines_never_panic() {
        let samples: [&[u8]; 5] = [b"53", b"530", b"5301", b"USER\x00x", b"\xff\xfe\xfd\r\n"];
        for s in samples {
            for n in 0..=s.len() {
                let _ = parse(&s[..n], true);
                let _ = parse(&s[..n], false);
            }
        }
        assert!(parse(&[b'A'; 10_000], false).is_err());
    }
}
