//! Numbers printed as fastText prints them: C++ streams in their default format, which
//! is C's `%g`.

/// `x` as a C++ stream prints it at `precision` (C's `%.{precision}g`): that many
/// significant digits, trailing zeros dropped, scientific notation below 1e-4 or from
/// `10^precision` on. fastText prints probabilities and scores at 6 digits (the
/// default) and the values of `.vec` files at 5.
///
/// ```
/// use atelier_fasttext::format_g;
/// assert_eq!(format_g(0.98343, 3), "0.983");
/// assert_eq!(format_g(-0.000012345678, 5), "-1.2346e-05");
/// assert_eq!(format_g(1.0, 6), "1");
/// ```
pub fn format_g(x: f64, precision: usize) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let p = precision.max(1);
    let sci = format!("{:.*e}", p - 1, x);
    let (mantissa, exp) = sci.split_once('e').expect("an exponent");
    let exp: i32 = exp.parse().expect("a number");
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if exp < -4 || exp >= p as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        trim(&format!("{:.*}", (p as i32 - 1 - exp) as usize, x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_cpp_streams_print_them() {
        assert_eq!(format_g(0.9834, 3), "0.983");
        assert_eq!(format_g(1.0, 3), "1");
        assert_eq!(format_g(0.5, 3), "0.5");
        assert_eq!(format_g(1.00001, 6), "1.00001");
        assert_eq!(format_g(1.0000100136, 6), "1.00001");
        assert_eq!(format_g(1e-5, 6), "1e-05");
        assert_eq!(format_g(0.000123456789, 6), "0.000123457");
        assert_eq!(format_g(1234567.0, 6), "1.23457e+06");
        assert_eq!(format_g(0.99995, 3), "1");
        assert_eq!(format_g(f64::NAN, 3), "nan");
        assert_eq!(format_g(-0.0, 5), "-0");
        assert_eq!(format_g(f64::from(-0.123_456_78_f32), 5), "-0.12346");
        assert_eq!(format_g(f64::from(0.000_099_999_f32), 5), "9.9999e-05");
    }
}
