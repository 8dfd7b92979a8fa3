//! robots.txt, asked once per host (RFC 9309): a `2xx` gives the rules, a `4xx` allows
//! everything, a `5xx` or no answer disallows everything until it is asked again.

use super::urls::normalize;
use atelier_io::http::HttpClient;
use std::sync::Arc;
use texting_robots::Robot;

/// What a host's robots.txt says.
#[derive(Clone)]
pub enum Rules {
    /// Its rules for our user agent.
    Robot(Arc<Robot>),
    /// No robots.txt (a `4xx`), or one that cannot be parsed: everything allowed.
    AllowAll,
}

impl Rules {
    /// Whether `url` may be fetched.
    pub fn allowed(&self, url: &str) -> bool {
        match self {
            Rules::Robot(robot) => robot.allowed(url),
            Rules::AllowAll => true,
        }
    }

    /// The `Crawl-delay`, in seconds.
    pub fn delay(&self) -> Option<f64> {
        match self {
            Rules::Robot(robot) => robot
                .delay
                .map(f64::from)
                .filter(|d| d.is_finite() && *d > 0.0),
            Rules::AllowAll => None,
        }
    }

    /// The `Sitemap:` lines.
    pub fn sitemaps(&self) -> &[String] {
        match self {
            Rules::Robot(robot) => &robot.sitemaps,
            Rules::AllowAll => &[],
        }
    }
}

/// The product token robots.txt groups are matched against: `atelier` of
/// `atelier/0.1 (+https://...)`.
pub fn agent_token(user_agent: &str) -> &str {
    user_agent
        .split(['/', ' '])
        .next()
        .filter(|t| !t.is_empty())
        .unwrap_or(user_agent)
}

/// Asks `robots_url`, following up to five redirects. `Err` (with a reason) when the
/// server fails (`5xx`, `429`) or cannot be reached: the host is then disallowed.
pub fn fetch(client: &HttpClient, robots_url: &str, agent: &str) -> Result<Rules, String> {
    let mut url = robots_url.to_string();
    for _ in 0..=5 {
        let exchange = client
            .get_once(&url, &[])
            .map_err(|e| e.kind().to_string())?;
        match exchange.status {
            200..=299 => {
                return Ok(match Robot::new(agent, &exchange.body) {
                    Ok(robot) => Rules::Robot(Arc::new(robot)),
                    Err(_) => Rules::AllowAll,
                });
            }
            300..=399 => {
                let base = url::Url::parse(&url).ok();
                let next = exchange
                    .header("location")
                    .and_then(|location| normalize(base.as_ref(), location));
                match next {
                    Some(next) => url = next.to_string(),
                    None => return Ok(Rules::AllowAll),
                }
            }
            429 | 500..=599 => return Err(format!("http-{}", exchange.status)),
            _ => return Ok(Rules::AllowAll),
        }
    }
    // Too many redirects: as if there were none (RFC 9309, 2.3.1.2).
    Ok(Rules::AllowAll)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_delay_and_token() {
        assert_eq!(agent_token("atelier/0.1 (+https://x.org/bot)"), "atelier");
        assert_eq!(agent_token("MyBot"), "MyBot");
        let robot = Robot::new(
            "atelier",
            b"User-agent: *\nDisallow: /private/\nCrawl-delay: 0.25\nSitemap: http://x.org/s.xml\n",
        )
        .unwrap();
        let rules = Rules::Robot(Arc::new(robot));
        assert!(!rules.allowed("http://x.org/private/a.html"));
        assert!(rules.allowed("http://x.org/public/a.html"));
        assert_eq!(rules.delay(), Some(0.25));
        assert_eq!(rules.sitemaps(), ["http://x.org/s.xml"]);
    }
}
