# Written for Landfall's tests, after conftest's GKE example plan: clusters keep legacy ABAC off,
# and preemptible node pools are a warning.
package main

import rego.v1

violation contains {"msg": msg} if {
	some rc in input.resource_changes
	rc.type == "google_container_cluster"
	rc.change.after.enable_legacy_abac == true
	msg := sprintf("%s enables legacy ABAC", [rc.address])
}

warn_preemptible contains msg if {
	some rc in input.resource_changes
	rc.type == "google_container_node_pool"
	some node_config in rc.change.after.node_config
	node_config.preemptible == true
	msg := sprintf("%s runs preemptible nodes", [rc.address])
}
