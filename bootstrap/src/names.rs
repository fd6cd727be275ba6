//! Validation of the names and values a platform is built from: DNS-1123 labels, AWS regions,
//! bucket and table names, CIDR blocks, repository URLs and paths.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// The longest platform name: it prefixes bucket, role and table names that AWS caps.
pub const MAX_PLATFORM_NAME: usize = 24;

/// AWS regions Landfall knows, commercial, GovCloud and China partitions.
pub const AWS_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// Checks a Kubernetes DNS-1123 label: at most 63 lowercase alphanumerics or '-', starting and
/// ending with an alphanumeric.
pub fn dns1123_label(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".to_owned());
    }
    if name.len() > 63 {
        return Err(format!(
            "it has {} characters, at most 63 are allowed",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "{c:?} is not allowed: use lowercase letters, digits and '-' (a DNS-1123 label)"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("it must start and end with a letter or digit (a DNS-1123 label)".to_owned());
    }
    Ok(())
}

/// Checks an app name: a DNS-1123 label (it names an Argo CD Application and a file).
pub fn app_name(name: &str) -> Result<(), String> {
    dns1123_label(name)
}

/// Checks the platform name: a DNS-1123 label short enough to prefix AWS resource names.
pub fn platform_name(name: &str) -> Result<(), String> {
    dns1123_label(name)?;
    if name.len() > MAX_PLATFORM_NAME {
        return Err(format!(
            "{name:?} has {} characters; at most {MAX_PLATFORM_NAME} keep the derived AWS names within their limits",
            name.len()
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!("{name:?} must start with a letter"));
    }
    Ok(())
}

/// The DNS-1123 label closest to `name`, when one can be made from it.
#[must_use]
pub fn suggest_label(name: &str) -> Option<String> {
    let mut out = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed: String = out.trim_matches('-').chars().take(63).collect();
    let trimmed = trimmed.trim_end_matches('-').to_owned();
    dns1123_label(&trimmed).ok().map(|()| trimmed)
}

/// Checks an AWS region; on failure gives the message and a suggestion.
pub fn aws_region(region: &str) -> Result<(), (String, Option<String>)> {
    if AWS_REGIONS.contains(&region) {
        return Ok(());
    }
    let closest = AWS_REGIONS
        .iter()
        .map(|r| (strsim::levenshtein(region, r), *r))
        .min()
        .filter(|(distance, _)| *distance <= 3)
        .map(|(_, r)| r);
    Err((
        format!("unknown AWS region {region:?}"),
        Some(match closest {
            Some(r) => format!("did you mean {r:?}?"),
            None => "use a region code such as \"eu-west-1\" or \"us-east-1\"".to_owned(),
        }),
    ))
}

/// Checks an S3 bucket name (general purpose buckets).
pub fn s3_bucket(name: &str) -> Result<(), String> {
    if !(3..=63).contains(&name.len()) {
        return Err(format!("{name:?} must have 3 to 63 characters"));
    }
    if name
        .chars()
        .any(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'))
    {
        return Err(format!(
            "{name:?} may only hold lowercase letters, digits, '-' and '.'"
        ));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge_ok(name.chars().next()) || !edge_ok(name.chars().last()) {
        return Err(format!(
            "{name:?} must start and end with a letter or digit"
        ));
    }
    if name.contains("..") || name.parse::<Ipv4Addr>().is_ok() {
        return Err(format!("{name:?} is not a valid bucket name"));
    }
    Ok(())
}

/// Checks a DynamoDB table name.
pub fn dynamodb_table(name: &str) -> Result<(), String> {
    if !(3..=255).contains(&name.len())
        || name
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "{name:?} must have 3 to 255 letters, digits, '-', '_' or '.'"
        ));
    }
    Ok(())
}

/// Parses an IPv4 block written as its network address (`example` shows one in the help).
fn network_block(cidr: &str, example: &str) -> Result<Ipv4Net, (String, Option<String>)> {
    let net: Ipv4Net = cidr.parse().map_err(|_| {
        (
            format!("invalid CIDR {cidr:?}"),
            Some(format!("write an IPv4 block such as \"{example}\"")),
        )
    })?;
    if net.network() != net.addr() {
        return Err((
            format!("{cidr:?} has host bits set"),
            Some(format!("use the network address: \"{}\"", net.trunc())),
        ));
    }
    Ok(net)
}

/// Checks the VPC's IPv4 block: a network address with a /16 to /20 prefix, so that every
/// public and control-plane subnet carved from it (an eighth of an eighth) is at least a /26.
pub fn vpc_cidr(cidr: &str) -> Result<(), (String, Option<String>)> {
    let net = network_block(cidr, "10.0.0.0/16")?;
    if !(16..=20).contains(&net.prefix_len()) {
        return Err((
            format!(
                "the VPC block {cidr:?} has a /{} prefix; the VPC needs /16 to /20",
                net.prefix_len()
            ),
            Some("use a /16, such as \"10.0.0.0/16\", for room to grow".to_owned()),
        ));
    }
    if !in_private_range(net) {
        return Err((
            format!("{cidr:?} is not a private (RFC 1918) block"),
            Some("use 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 space".to_owned()),
        ));
    }
    Ok(())
}

/// The private IPv4 ranges (RFC 1918, and RFC 6598's shared space, which AWS also allows for
/// VPCs) that runner pods may not reach unless `landfall.toml` opens a part of them.
pub const PRIVATE_RANGES: [&str; 4] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
];

/// Other blocks runner pods may not reach: link-local (instance metadata, the Amazon DNS
/// resolver, Pod Identity but for its one address) and RFC 2544's benchmark range, which EKS
/// suggests for secondary pod CIDRs (custom networking).
pub const OTHER_CLOSED_RANGES: [&str; 2] = ["169.254.0.0/16", "198.18.0.0/15"];

/// The cluster's Service ranges: EKS picks one of these when none is set, as the platform does.
pub const SERVICE_RANGES: [&str; 2] = ["10.100.0.0/16", "172.20.0.0/16"];

const NOT_WHOLE_NETWORKS: &str =
    "list the blocks runners need (a VCS host, a registry), not whole networks";

/// Checks a private block runner pods may reach (`runner_private_egress`), given the VPC's
/// block: a network address inside the private ranges, clear of the VPC and the Service ranges.
pub fn runner_private_egress(cidr: &str, vpc: &str) -> Result<(), (String, Option<String>)> {
    let net = network_block(cidr, "192.168.40.0/24")?;
    if !in_private_range(net) {
        return Err((
            format!("{cidr:?} is not inside a private range"),
            Some(format!(
                "runner pods reach public addresses already; list only blocks inside {}",
                PRIVATE_RANGES.join(", ")
            )),
        ));
    }
    let overlaps = |other: &Ipv4Net| other.contains(&net) || net.contains(other);
    if vpc.parse::<Ipv4Net>().is_ok_and(|v| overlaps(&v)) {
        return Err((
            format!("{cidr:?} overlaps the VPC {vpc}"),
            Some(
                "the VPC holds the nodes, every pod and the cluster's API endpoint; pull-request \
                 code must not reach them"
                    .to_owned(),
            ),
        ));
    }
    if PRIVATE_RANGES.contains(&cidr) {
        return Err((
            format!("{cidr:?} is a whole private range"),
            Some(NOT_WHOLE_NETWORKS.to_owned()),
        ));
    }
    if net.prefix_len() < 16 {
        return Err((
            format!("{cidr:?} is wider than a /16"),
            Some(NOT_WHOLE_NETWORKS.to_owned()),
        ));
    }
    if let Some(range) = SERVICE_RANGES
        .iter()
        .find(|range| range.parse::<Ipv4Net>().is_ok_and(|r| overlaps(&r)))
    {
        return Err((
            format!("{cidr:?} overlaps {range}, a range EKS gives the cluster's Services"),
            Some("list a block outside 10.100.0.0/16 and 172.20.0.0/16".to_owned()),
        ));
    }
    Ok(())
}

/// Whether `net` lies inside one of [`PRIVATE_RANGES`].
fn in_private_range(net: Ipv4Net) -> bool {
    PRIVATE_RANGES
        .iter()
        .any(|range| range.parse::<Ipv4Net>().is_ok_and(|r| r.contains(&net)))
}

/// Checks a Git or Helm repository URL.
pub fn repo_url(url: &str) -> Result<(), String> {
    if landfall_function::config::url_credentials(url).is_some() {
        return Err(
            "it holds credentials (`user:token@`): the URL is written into the manifests and the \
             Terraform state. Give Argo CD the repository's credentials in a Secret instead"
                .to_owned(),
        );
    }
    if url.contains(['?', '#']) {
        return Err(
            "it has a query or a fragment (`?token=...`), which a repository URL does not need: \
             the URL is written into the manifests and the Terraform state. Give Argo CD the \
             repository's credentials in a Secret instead"
                .to_owned(),
        );
    }
    let ok_scheme = ["https://", "http://", "ssh://", "git@", "oci://", "file://"]
        .iter()
        .any(|s| url.starts_with(s));
    if !ok_scheme {
        return Err(format!(
            "{url:?} is not a repository URL: use https://, ssh://, git@host:path, oci:// or file://"
        ));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{url:?} contains whitespace"));
    }
    Ok(())
}

/// Checks a folder inside a repository: relative, forward slashes, no `..`.
pub fn repo_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("it is empty: use \".\" for the repository root".to_owned());
    }
    if path.starts_with('/') || path.contains('\\') {
        return Err(format!("{path:?} must be relative, with forward slashes"));
    }
    if path.split('/').any(|part| part == "..") {
        return Err(format!("{path:?} must not leave the repository ('..')"));
    }
    if path.chars().any(char::is_control) {
        return Err(format!("{path:?} contains control characters"));
    }
    Ok(())
}

/// Whether the nodes of `instance_types` run ARM: all are Graviton families (`m7g`, `c6gn`...).
fn runs_arm(instance_types: &[String]) -> bool {
    instance_types.iter().all(|t| is_graviton(t))
}

/// Whether `instance_type` is of a Graviton (ARM) family: `a1`, `m7g`, `c6gn`, `x2gd`, `g5g`;
/// not `g5` (a GPU family on x86).
pub(crate) fn is_graviton(instance_type: &str) -> bool {
    let family = instance_type.split('.').next().unwrap_or_default();
    family == "a1"
        || family
            .trim_start_matches(|c: char| c.is_ascii_alphabetic())
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .starts_with('g')
}

/// The EKS AMI type matching the instance types.
pub(crate) fn ami_type(instance_types: &[String]) -> &'static str {
    if runs_arm(instance_types) {
        "AL2023_ARM_64_STANDARD"
    } else {
        "AL2023_x86_64_STANDARD"
    }
}

/// The container platform of the nodes of `instance_types`, for the runner image they run.
#[must_use]
pub fn node_platform(instance_types: &[String]) -> &'static str {
    if runs_arm(instance_types) {
        "linux/arm64"
    } else {
        "linux/amd64"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graviton_instance_types_get_the_arm_ami() {
        let t = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            ami_type(&t(&["m7g.large", "c6gn.xlarge"])),
            "AL2023_ARM_64_STANDARD"
        );
        assert_eq!(ami_type(&t(&["m6i.large"])), "AL2023_x86_64_STANDARD");
        assert_eq!(
            ami_type(&t(&["m7g.large", "m6i.large"])),
            "AL2023_x86_64_STANDARD"
        );
        // The runner image is built for the nodes' platform, whatever the operator's machine.
        assert_eq!(node_platform(&t(&["m7g.large"])), "linux/arm64");
        assert_eq!(node_platform(&t(&["m6i.large"])), "linux/amd64");
    }

    #[test]
    fn dns_labels_follow_rfc_1123() {
        for ok in ["a", "guestbook", "my-app-2", &"a".repeat(63)] {
            assert!(dns1123_label(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64), "é"] {
            assert!(dns1123_label(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn repository_urls_with_credentials_are_refused() {
        for ok in [
            "https://github.com/acme/platform.git",
            "git@github.com:acme/platform.git",
            "ssh://git@gitlab.example.com:2222/acme/platform.git",
            "oci://registry.example.com/charts",
        ] {
            assert!(repo_url(ok).is_ok(), "{ok}");
        }
        // A query may carry a token, and no repository URL needs one.
        for url in [
            "https://gitlab.example.com/a/b?x=c@d",
            "https://x.example.com/a.git?token=abc",
        ] {
            let err = repo_url(url).unwrap_err();
            assert!(err.contains("query") && !err.contains("abc"), "{err}");
        }
        for (url, stripped) in [
            (
                "https://gitlab-ci-token:s3cr3t@gitlab.com/acme/p.git",
                "https://gitlab.com/acme/p.git",
            ),
            (
                "https://ghp_token@github.com/acme/p.git",
                "https://github.com/acme/p.git",
            ),
            ("ssh://git:pw@host/acme/p.git", "ssh://host/acme/p.git"),
            (
                "oci://u:p@registry.example.com/charts",
                "oci://registry.example.com/charts",
            ),
        ] {
            let err = repo_url(url).unwrap_err();
            assert!(
                !err.contains("s3cr3t") && err.contains("credentials"),
                "{err}"
            );
            let mut left = url.to_owned();
            left.replace_range(landfall_function::config::url_credentials(url).unwrap(), "");
            assert_eq!(left, stripped);
        }
    }

    #[test]
    fn suggestions_are_valid_labels() {
        assert_eq!(suggest_label("My_App").as_deref(), Some("my-app"));
        assert_eq!(suggest_label("--x--").as_deref(), Some("x"));
        assert_eq!(suggest_label("___"), None);
    }

    #[test]
    fn vpc_blocks_must_be_private_network_addresses() {
        assert!(vpc_cidr("10.0.0.0/16").is_ok());
        let vpc = "10.0.0.0/16";
        assert!(runner_private_egress("192.168.40.0/24", vpc).is_ok());
        assert!(runner_private_egress("10.20.0.5/32", vpc).is_ok());
        assert!(runner_private_egress("100.64.8.0/22", vpc).is_ok());
        assert!(runner_private_egress("172.16.0.0/16", vpc).is_ok());
        for refused in [
            "192.168.40.1/24",
            "8.8.8.0/24",
            "0.0.0.0/0",
            "10.0.0.0/8",
            "10.0.3.0/24",
            "10.100.4.0/24",
            "172.20.0.0/14",
            "192.168.0.0/16",
            "172.16.0.0/15",
            "169.254.169.254/32",
            "192.168.40.0",
        ] {
            assert!(runner_private_egress(refused, vpc).is_err(), "{refused}");
        }
        assert!(vpc_cidr("192.168.0.0/20").is_ok());
        assert!(vpc_cidr("192.168.0.0/21").is_err());
        assert!(vpc_cidr("10.0.0.0/8").is_err());
        assert!(vpc_cidr("10.0.0.0/28").is_err());
        assert!(vpc_cidr("8.8.0.0/16").is_err());
        assert!(vpc_cidr("10.0.0.0").is_err());
        let (_, help) = vpc_cidr("10.0.3.0/16").unwrap_err();
        assert_eq!(help.unwrap(), "use the network address: \"10.0.0.0/16\"");
    }

    #[test]
    fn regions_are_checked_against_the_known_list() {
        assert!(aws_region("us-east-1").is_ok());
        let (msg, help) = aws_region("us-est-1").unwrap_err();
        assert!(msg.contains("us-est-1"));
        assert_eq!(help.unwrap(), "did you mean \"us-east-1\"?");
    }

    #[test]
    fn bucket_names_follow_s3_rules() {
        assert!(s3_bucket("acme-tfstate-eu-west-1").is_ok());
        assert!(s3_bucket("Acme").is_err());
        assert!(s3_bucket("192.168.1.1").is_err());
        assert!(s3_bucket("a..b").is_err());
    }

    #[test]
    fn repo_paths_stay_inside_the_repository() {
        assert!(repo_path("apps/guestbook").is_ok());
        assert!(repo_path(".").is_ok());
        assert!(repo_path("../x").is_err());
        assert!(repo_path("/etc").is_err());
    }
}
