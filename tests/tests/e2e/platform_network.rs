//! The rendered runner NetworkPolicy against what pull-request code must not reach: runner pods
//! isolated both ways, cluster DNS allowed, instance metadata, the VPC, the Service ranges and
//! every private network closed but for the blocks `landfall.toml` opens, EKS Pod Identity's agent the only link-local address, and the internet open (the
//! CIDR arithmetic that decides it checked on its own).

use std::net::IpAddr;

use super::platform::{rendered, yaml_as_json};

/// A CIDR block (or a bare address) as (IPv6?, first address, prefix length), both families in
/// 128 bits so that one comparison serves both.
fn cidr(block: &str) -> (bool, u128, u32) {
    let (addr, len) = block.split_once('/').unwrap_or((block, ""));
    let (v6, bits, width) = match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => (false, u128::from(u32::from(a)), 32),
        Ok(IpAddr::V6(a)) => (true, u128::from(a), 128),
        Err(e) => panic!("{block} is not a CIDR block: {e}"),
    };
    let len = if len.is_empty() {
        width
    } else {
        len.parse().unwrap()
    };
    assert!(len <= width, "{block} is not a CIDR block");
    (v6, network(bits, width, len), len)
}

/// The first `len` bits of a `width`-bit address.
fn network(bits: u128, width: u32, len: u32) -> u128 {
    if len == 0 {
        0
    } else {
        bits & !((1u128 << (width - len)) - 1)
    }
}

/// Whether block `outer` contains every address of block `inner`.
fn covers(outer: &str, inner: &str) -> bool {
    let ((v6_o, base_o, len_o), (v6_i, base_i, len_i)) = (cidr(outer), cidr(inner));
    let width = if v6_o { 128 } else { 32 };
    v6_o == v6_i && len_o <= len_i && network(base_i, width, len_o) == base_o
}

/// Whether two blocks share an address.
fn overlap(a: &str, b: &str) -> bool {
    covers(a, b) || covers(b, a)
}

/// The egress rules of `policy` that let a selected pod reach some address of `target`, each
/// as `(rule index, rule)`. An `ipBlock` opens `target` unless one of its `except` blocks covers
/// all of it; a rule with no `to` opens every address; pod and namespace selectors open only pod
/// addresses (and, on EKS, the Service addresses in front of those pods), never a fixed block.
fn egress_reaching(policy: &serde_json::Value, target: &str) -> Vec<(usize, serde_json::Value)> {
    let mut found = Vec::new();
    let rules = policy["spec"]["egress"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, rule) in rules.iter().enumerate() {
        let to = rule["to"].as_array().cloned().unwrap_or_default();
        let opens = to.is_empty()
            || to.iter().any(|peer| {
                let Some(block) = peer["ipBlock"].as_object() else {
                    return false;
                };
                let outer = block["cidr"].as_str().unwrap();
                let excepted = block
                    .get("except")
                    .and_then(serde_json::Value::as_array)
                    .is_some_and(|e| e.iter().any(|x| covers(x.as_str().unwrap(), target)));
                overlap(outer, target) && !excepted
            });
        if opens {
            found.push((i, rule.clone()));
        }
    }
    found
}

#[test]
fn egress_reaching_finds_every_way_out() {
    let policy = |egress: serde_json::Value| serde_json::json!({"spec": {"egress": egress}});
    let open = policy(serde_json::json!([{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]));
    assert_eq!(egress_reaching(&open, "169.254.169.254/32").len(), 1);
    assert_eq!(egress_reaching(&open, "fd00:ec2::254/128").len(), 0);
    let everything = policy(serde_json::json!([{"ports": [{"port": 443}]}]));
    assert_eq!(egress_reaching(&everything, "169.254.169.254/32").len(), 1);
    let part = policy(serde_json::json!([{"to": [{"ipBlock": {
        "cidr": "0.0.0.0/0", "except": ["10.0.0.0/17"]}}]}]));
    assert_eq!(
        egress_reaching(&part, "10.0.0.0/16").len(),
        1,
        "half is open"
    );
    assert_eq!(egress_reaching(&part, "10.0.1.0/24").len(), 0);
    let inside = policy(serde_json::json!([{"to": [{"ipBlock": {"cidr": "10.0.3.7/32"}}]}]));
    assert_eq!(egress_reaching(&inside, "10.0.0.0/16").len(), 1);
    let pods = policy(serde_json::json!([{"to": [{"podSelector": {}}]}]));
    assert_eq!(egress_reaching(&pods, "169.254.169.254/32").len(), 0);
    assert!(covers("0.0.0.0/0", "172.20.0.0/20"));
    assert!(covers("172.20.0.0/16", "172.20.0.0/20"));
    assert!(!covers("172.20.0.0/20", "172.20.0.0/16"));
    assert!(!covers("10.100.0.0/16", "10.0.0.0/16"));
    assert!(covers("::/0", "fd00:ec2::254"));
    assert!(!covers("0.0.0.0/0", "fd00:ec2::254"));
}

/// The labels every runner pod carries (`job_labels` in function/src/dispatch/kubernetes.rs).
const RUNNER_POD_LABELS: [(&str, &str); 2] = [
    ("app.kubernetes.io/name", "landfall-runner"),
    ("app.kubernetes.io/managed-by", "landfall"),
];

/// Runner pods are selected (every label the selector asks for is one they carry), both
/// directions are isolated, and no ingress is allowed at all.
fn assert_isolates_runner_pods(name: &str, policy: &serde_json::Value) {
    let spec = &policy["spec"];
    let selector = &spec["podSelector"];
    assert!(selector.is_object(), "{name}: {selector}");
    assert!(
        selector["matchExpressions"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{name}: {selector}"
    );
    for (key, value) in selector["matchLabels"].as_object().into_iter().flatten() {
        assert!(
            RUNNER_POD_LABELS.contains(&(key.as_str(), value.as_str().unwrap_or_default())),
            "{name}: runner pods do not carry {key}={value}"
        );
    }
    let types: Vec<&str> = spec["policyTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"Ingress") && types.contains(&"Egress"),
        "{name}: {types:?}"
    );
    assert!(
        spec["ingress"].as_array().is_none_or(Vec::is_empty),
        "{name}"
    );
}

/// DNS: the kube-dns pods in kube-system, on UDP and TCP 53.
fn assert_allows_cluster_dns(name: &str, policy: &serde_json::Value) {
    let spec = &policy["spec"];
    let dns = spec["egress"].as_array().unwrap().iter().find(|rule| {
        rule["to"].as_array().is_some_and(|to| {
            to.iter().any(|peer| {
                peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                    == "kube-system"
                    && peer["podSelector"]["matchLabels"]["k8s-app"] == "kube-dns"
            })
        })
    });
    let dns = dns.unwrap_or_else(|| panic!("{name}: no rule allows kube-dns"));
    for protocol in ["UDP", "TCP"] {
        assert!(
            dns["ports"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!({"protocol": protocol, "port": 53})),
            "{name}: {dns}"
        );
    }
}

#[test]
fn the_runner_network_policy_keeps_pull_request_code_off_the_cluster_and_the_node() {
    for name in ["example", "full"] {
        let (dir, config) = rendered(name);
        let policy = yaml_as_json(
            &dir.path()
                .join("manifests/landfall-runner/networkpolicy.yaml"),
        );
        assert_eq!(policy["kind"], "NetworkPolicy", "{name}");
        assert_eq!(
            policy["metadata"]["namespace"],
            config.function.runner_namespace.get_ref().as_str(),
            "{name}"
        );

        assert_isolates_runner_pods(name, &policy);
        assert_allows_cluster_dns(name, &policy);

        // Instance metadata is unreachable over IPv4 and IPv6, and so is the rest of the cluster
        // (the VPC: nodes, pods, Argo CD, the function; either EKS default Service range) and
        // every private network the VPC may be joined to, but for the blocks landfall.toml opens.
        let vpc = config.network.vpc_cidr.get_ref();
        let opened: Vec<&str> = config
            .network
            .runner_private_egress
            .iter()
            .map(|b| b.get_ref().as_str())
            .collect();
        for closed in [
            "169.254.169.254/32",
            "fd00:ec2::254/128",
            "fd00:ec2::23/128",
            vpc,
            "10.100.0.0/16",
            "172.20.0.0/16",
            // Peered VPCs, a transit gateway's, an office network over a VPN.
            "10.64.12.8/32",
            "10.200.0.0/16",
            "172.31.0.0/16",
            "192.168.41.0/24",
            "100.64.0.0/10",
            // EKS custom networking's secondary pod CIDR.
            "198.19.0.0/16",
        ] {
            let open = egress_reaching(&policy, closed);
            assert!(
                open.is_empty(),
                "{name}: {closed} is reachable through {open:?}"
            );
        }
        // The internet rule names the VPC itself too, whatever range holds it.
        let internet: Vec<&serde_json::Value> = policy["spec"]["egress"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["to"].as_array().into_iter().flatten())
            .filter_map(|p| p.get("ipBlock"))
            .filter(|b| b["cidr"] == "0.0.0.0/0")
            .collect();
        assert_eq!(internet.len(), 1, "{name}");
        assert!(
            internet[0]["except"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e == vpc),
            "{name}: {internet:?}"
        );
        // Each opened block is reachable through a rule of its own, which opens nothing else.
        for block in &opened {
            let open = egress_reaching(&policy, block);
            assert_eq!(open.len(), 1, "{name}: {block}: {open:?}");
            assert_eq!(
                open[0].1["to"],
                serde_json::json!(
                    opened
                        .iter()
                        .map(|b| serde_json::json!({"ipBlock": {"cidr": b}}))
                        .collect::<Vec<_>>()
                ),
                "{name}"
            );
        }
        assert!(
            name != "full" || opened.len() == 2,
            "the full fixture opens two private blocks"
        );

        // Of link-local, only EKS Pod Identity's agent, and only on TCP 80: the runner's AWS
        // role comes from its Pod Identity association.
        let link_local = egress_reaching(&policy, "169.254.0.0/16");
        assert_eq!(link_local.len(), 1, "{name}: {link_local:?}");
        let (_, pod_identity) = &link_local[0];
        assert_eq!(
            pod_identity["to"],
            serde_json::json!([{"ipBlock": {"cidr": "169.254.170.23/32"}}]),
            "{name}"
        );
        assert_eq!(
            pod_identity["ports"],
            serde_json::json!([{"protocol": "TCP", "port": 80}]),
            "{name}"
        );
        assert_eq!(egress_reaching(&policy, "169.254.170.23/32").len(), 1);

        // The internet (here the GitHub and GitLab web addresses) is reachable.
        for public in ["140.82.112.3/32", "172.65.251.78/32"] {
            assert!(
                !egress_reaching(&policy, public).is_empty(),
                "{name}: {public}"
            );
        }
    }
}
