//! `errno`: an error number to its name: in a signed field the negative
//! values (kernel return values: `-13` → `EACCES`, while `3`, a file
//! descriptor, stays `3`), in an unsigned field the positive ones (`errno`
//! as stored by user space: `13` → `EACCES`). Unknown numbers stay numbers.

use bee_object::decode::{Render, Value};

use crate::tables::{errnos::ERRNOS, lookup};
use crate::value::{int_of, push_int};

/// Kernel-internal numbers a return value can carry (include/linux/errno.h).
const INTERNAL: &[(u32, &str)] = &[
    (512, "ERESTARTSYS"),
    (513, "ERESTARTNOINTR"),
    (514, "ERESTARTNOHAND"),
    (515, "ENOIOCTLCMD"),
    (516, "ERESTART_RESTARTBLOCK"),
    (517, "EPROBE_DEFER"),
    (518, "EOPENSTALE"),
    (519, "ENOPARAM"),
    (521, "EBADHANDLE"),
    (522, "ENOTSYNC"),
    (523, "EBADCOOKIE"),
    (524, "ENOTSUPP"),
    (525, "ETOOSMALL"),
    (526, "ESERVERFAULT"),
    (527, "EBADTYPE"),
    (528, "EJUKEBOX"),
    (529, "EIOCBQUEUED"),
    (530, "ERECALLCONFLICT"),
];

/// The name of error number `n` (sign ignored).
pub fn name(n: i128) -> Option<&'static str> {
    let n = u64::try_from(n.unsigned_abs()).ok()?;
    lookup(ERRNOS, n).or_else(|| lookup(INTERNAL, n))
}

/// The `errno` decoder of a signed or an unsigned field.
#[derive(Debug)]
pub struct Errno {
    pub signed: bool,
}

impl Render for Errno {
    fn json(&self, v: Value<'_>, out: &mut String) {
        crate::value::json_named(self, v, out);
    }

    fn text(&self, v: Value<'_>, out: &mut String) {
        match int_of(&v) {
            Some(n) => match name(n) {
                Some(s) if (self.signed && n < 0) || (!self.signed && n > 0) => out.push_str(s),
                _ => push_int(out, n),
            },
            None => v.write_text(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_names() {
        for (signed, v, want) in [
            (true, Value::I(-13), "EACCES"),
            (true, Value::I(13), "13"), // a signed field's non-negative values are results
            (true, Value::I(3), "3"),
            (false, Value::U(13), "EACCES"),
            (false, Value::U(2), "ENOENT"),
            (true, Value::I(-2), "ENOENT"),
            (true, Value::I(-11), "EAGAIN"),
            (true, Value::I(-35), "EDEADLK"),
            (true, Value::I(-512), "ERESTARTSYS"),
            (true, Value::I(-133), "EHWPOISON"),
            (true, Value::I(0), "0"),
            (false, Value::U(0), "0"),
            (true, Value::I(-4000), "-4000"),
            (true, Value::I(i64::MIN), "-9223372036854775808"),
            (false, Value::U(u64::MAX), "18446744073709551615"),
        ] {
            let mut s = String::new();
            Errno { signed }.text(v, &mut s);
            assert_eq!(s, want, "{v:?}");
        }
        let mut s = String::new();
        Errno { signed: true }.json(Value::I(3), &mut s);
        assert_eq!(s, "3", "a number kept is a JSON number");
        let mut s = String::new();
        Errno { signed: true }.json(Value::I(-1), &mut s);
        assert_eq!(s, "\"EPERM\"");
    }
}
