//! Grid carbon intensity by country: grams of CO2-equivalent per kWh of electricity.
//!
//! The table is `data/grid_intensity.csv`, shipped in the binary; its header names the
//! source (Ember's yearly electricity data for 2023, as republished by Our World in Data)
//! and how the EU-27 average was computed.

use std::sync::OnceLock;

/// The table as shipped.
const TABLE: &str = include_str!("../data/grid_intensity.csv");

/// One row of the carbon table.
#[derive(Debug, Clone, PartialEq)]
pub struct GridIntensity {
    /// ISO 3166-1 alpha-2 code, or `EU` for the EU-27 average.
    pub code: &'static str,
    /// The country's name in English.
    pub country: &'static str,
    /// gCO2e per kWh generated.
    pub grams_per_kwh: f64,
    /// The year the figure describes.
    pub year: u16,
}

/// The source of the table, for footnotes.
pub const SOURCE: &str = "Ember, Yearly electricity data (2023 figures, 2024 release), \
     via Our World in Data's energy dataset; https://ember-energy.org/data/yearly-electricity-data/";

fn table() -> &'static [GridIntensity] {
    static ROWS: OnceLock<Vec<GridIntensity>> = OnceLock::new();
    ROWS.get_or_init(|| {
        TABLE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .skip(1) // the column names
            .map(|line| {
                let cols: Vec<&'static str> = line.split(',').collect();
                assert_eq!(cols.len(), 4, "grid_intensity.csv: bad row `{line}`");
                GridIntensity {
                    code: cols[0],
                    country: cols[1],
                    grams_per_kwh: cols[2].parse().expect("grid_intensity.csv: grams"),
                    year: cols[3].parse().expect("grid_intensity.csv: year"),
                }
            })
            .collect()
    })
}

/// The row for a country code (case-insensitive), if the table has it.
pub fn intensity(code: &str) -> Option<&'static GridIntensity> {
    table().iter().find(|r| r.code.eq_ignore_ascii_case(code))
}

/// Every code in the table, sorted.
pub fn countries() -> Vec<&'static str> {
    table().iter().map(|r| r.code).collect()
}

/// Grams of CO2e for an energy in kWh at a carbon intensity in gCO2e/kWh.
pub fn grams(kwh: f64, grams_per_kwh: f64) -> f64 {
    kwh * grams_per_kwh
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_the_required_places() {
        for code in ["FR", "DE", "US", "EU", "PL", "SE", "IE", "ES", "IT", "NL"] {
            assert!(intensity(code).is_some(), "{code} missing");
        }
        assert_eq!(intensity("fr").unwrap().grams_per_kwh, 56.0);
        assert_eq!(intensity("DE").unwrap().grams_per_kwh, 380.9);
        assert_eq!(intensity("US").unwrap().grams_per_kwh, 369.5);
        assert!(intensity("XX").is_none());
    }

    #[test]
    fn every_eu_member_is_listed_and_the_average_lies_among_them() {
        let members = [
            "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
            "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
        ];
        let values: Vec<f64> = members
            .iter()
            .map(|c| intensity(c).unwrap_or_else(|| panic!("{c}")).grams_per_kwh)
            .collect();
        let eu = intensity("EU").unwrap().grams_per_kwh;
        let lo = values.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = values.iter().cloned().fold(0.0, f64::max);
        assert!(lo < eu && eu < hi);
        assert!(table().iter().all(|r| r.year == 2023));
    }

    #[test]
    fn grams_by_hand() {
        // 2.5 kWh in Germany: 2.5 * 380.9 = 952.25 g.
        assert!((grams(2.5, intensity("DE").unwrap().grams_per_kwh) - 952.25).abs() < 1e-9);
    }
}
