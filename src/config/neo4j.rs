//! Neo4j's own settings that boltgate does not use, so that an operator can start from the
//! neo4j.conf they have: such a setting is accepted, listed once at start-up as ignored (with
//! boltgate's equivalent where there is one), and refused only with `--strict`.
//!
//! The names are Neo4j 5 / 2025's configuration settings reference (operations manual,
//! "Configuration settings", grouped as there), plus the SSL framework's scopes boltgate has no
//! connector for and the Neo4j 4.x names operators still carry. A name pattern (`server.*`) is
//! not enough: a typo of a real name must stay an error with "did you mean", so every name is
//! listed. `<provider>` and `<database>` stand for one name segment.

/// Every Neo4j setting name boltgate knows of but does not use, by the manual's groups.
pub static NEO4J_SETTINGS: &[(&str, &[&str])] = &[
    (
        "checkpoint",
        &[
            "db.checkpoint",
            "db.checkpoint.interval.time",
            "db.checkpoint.interval.tx",
            "db.checkpoint.interval.volume",
            "db.checkpoint.iops.limit",
        ],
    ),
    (
        "cluster",
        &[
            "db.cluster.catchup.pull_interval",
            "db.cluster.raft.apply.buffer.max_bytes",
            "db.cluster.raft.apply.buffer.max_entries",
            "db.cluster.raft.in_queue.batch.max_bytes",
            "db.cluster.raft.so_keepalive_enabled",
            "db.cluster.raft.in_queue.max_bytes",
            "db.cluster.raft.leader_transfer.priority_tag",
            "db.cluster.raft.log.prune_strategy",
            "db.cluster.raft.log_shipping.buffer.max_bytes",
            "db.cluster.raft.log_shipping.buffer.max_entries",
            "dbms.cluster.network.client_inactivity_timeout",
            "dbms.cluster.endpoints",
            "dbms.cluster.discovery.resolver_type",
            "dbms.cluster.minimum_initial_system_primaries_count",
            "dbms.cluster.network.connect_timeout",
            "dbms.cluster.network.handshake_timeout",
            "dbms.cluster.network.max_chunk_size",
            "dbms.cluster.network.supported_compression_algos",
            "dbms.cluster.raft.binding_timeout",
            "dbms.cluster.raft.client.max_channels",
            "dbms.cluster.raft.election_failure_detection_window",
            "dbms.cluster.raft.leader_failure_detection_window",
            "dbms.cluster.raft.leader_transfer.balancing_strategy",
            "dbms.cluster.raft.log.pruning_frequency",
            "dbms.cluster.raft.log.reader_pool_size",
            "dbms.cluster.raft.log.rotation_size",
            "dbms.cluster.raft.membership.join_max_lag",
            "dbms.cluster.raft.membership.join_timeout",
            "dbms.cluster.store_copy.max_retry_time_per_request",
            "initial.dbms.automatically_enable_free_servers",
            "initial.dbms.default_primaries_count",
            "initial.dbms.default_secondaries_count",
            "initial.server.allowed_databases",
            "initial.server.denied_databases",
            "initial.server.mode_constraint",
            "initial.server.tags",
            "server.cluster.advertised_address",
            "server.cluster.catchup.connect_randomly_to_server_tags",
            "server.cluster.catchup.upstream_strategy",
            "server.cluster.catchup.user_defined_upstream_strategy",
            "server.cluster.listen_address",
            "server.cluster.network.native_transport_enabled",
            "server.cluster.raft.advertised_address",
            "server.cluster.raft.listen_address",
            "server.cluster.system_database_mode",
        ],
    ),
    (
        "connection",
        &[
            "server.bolt.advertised_address",
            "server.bolt.connection_keep_alive",
            "server.bolt.connection_keep_alive_for_requests",
            "server.bolt.connection_keep_alive_probes",
            "server.bolt.connection_keep_alive_streaming_scheduling_interval",
            "server.bolt.enabled",
            "server.bolt.additional_listen_addresses",
            "server.bolt.telemetry.enabled",
            "server.bolt.enable_network_error_accounting",
            "server.bolt.network_abort_clear_window_duration",
            "server.bolt.network_abort_warn_threshold",
            "server.bolt.network_abort_warn_window_duration",
            "server.bolt.thread_pool_keep_alive",
            "server.bolt.thread_pool_max_size",
            "server.bolt.thread_pool_min_size",
            "server.bolt.thread_starvation_clear_window_duration",
            "server.bolt.thread_starvation_warn_threshold",
            "server.bolt.thread_starvation_warn_window_duration",
            "server.bolt.traffic_accounting_check_period",
            "server.bolt.traffic_accounting_clear_duration",
            "server.bolt.traffic_accounting_incoming_threshold_mbps",
            "server.bolt.traffic_accounting_outgoing_threshold_mbps",
            "server.http.advertised_address",
            "server.http_enabled_modules",
            "server.http_enabled_transports",
            "server.https.advertised_address",
            "server.default_advertised_address",
            "server.default_listen_address",
            "server.routing.advertised_address",
            "server.routing.listen_address",
            "dbms.routing.client_side.enforce_for_domains",
            "dbms.routing.default_router",
            "dbms.routing.driver.connection.connect_timeout",
            "dbms.routing.driver.connection.max_lifetime",
            "dbms.routing.driver.connection.pool.acquisition_timeout",
            "dbms.routing.driver.connection.pool.idle_test",
            "dbms.routing.driver.connection.pool.max_size",
            "dbms.routing.driver.logging.level",
            "dbms.routing.enabled",
            "dbms.routing.load_balancing.plugin",
            "dbms.routing.load_balancing.shuffle_enabled",
            "dbms.routing.reads_on_primaries_enabled",
            "dbms.routing.reads_on_writers_enabled",
            "dbms.routing_ttl",
        ],
    ),
    (
        "cypher",
        &[
            "dbms.cypher.forbid_exhaustive_shortestpath",
            "dbms.cypher.forbid_shortestpath_common_nodes",
            "dbms.cypher.hints_error",
            "dbms.cypher.infer_schema_parts",
            "dbms.cypher.lenient_create_relationship",
            "dbms.cypher.min_replan_interval",
            "dbms.cypher.planner",
            "dbms.cypher.render_plan_description",
            "dbms.cypher.statistics_divergence_threshold",
            "server.cypher.parallel.worker_limit",
        ],
    ),
    (
        "database",
        &[
            "db.filewatcher.enabled",
            "db.format",
            "db.relationship_grouping_threshold",
            "db.store.files.preallocate",
            "db.temporal.timezone",
            "db.track_query_cpu_time",
        ],
    ),
    (
        "dbms",
        &[
            "initial.dbms.default_database",
            "dbms.db.timezone",
            "dbms.databases.seed_from_uri_providers",
            "dbms.max_databases",
            "dbms.usage_report.enabled",
        ],
    ),
    (
        "import",
        &[
            "db.import.csv.buffer_size",
            "db.import.csv.legacy_quote_escaping",
        ],
    ),
    (
        "index",
        &[
            "db.index.fulltext.default_analyzer",
            "db.index.fulltext.eventually_consistent",
            "db.index.fulltext.eventually_consistent_apply_parallelism",
            "db.index.fulltext.eventually_consistent_refresh_interval",
            "db.index.fulltext.eventually_consistent_refresh_parallelism",
            "db.index.fulltext.eventually_consistent_index_update_queue_max_length",
            "db.index_sampling.background_enabled",
            "db.index_sampling.sample_size_limit",
            "db.index_sampling.update_percentage",
        ],
    ),
    (
        "logging",
        &[
            "db.logs.query.annotation_data_format",
            "db.logs.query.early_raw_logging_enabled",
            "db.logs.query.enabled",
            "db.logs.query.max_parameter_length",
            "db.logs.query.obfuscate_literals",
            "db.logs.query.parameter_logging_enabled",
            "db.logs.query.plan_description_enabled",
            "db.logs.query.threshold",
            "db.logs.query.transaction.enabled",
            "db.logs.query.transaction.threshold",
            "dbms.logs.http.enabled",
            "server.logs.config",
            "server.logs.debug.enabled",
            "server.logs.gc.enabled",
            "server.logs.gc.options",
            "server.logs.gc.rotation.keep_number",
            "server.logs.gc.rotation.size",
            "server.logs.user.config",
        ],
    ),
    (
        "memory",
        &[
            "db.memory.pagecache.warmup.enable",
            "db.memory.pagecache.warmup.preload",
            "db.memory.pagecache.warmup.preload.allowlist",
            "db.memory.pagecache.warmup.profile.interval",
            "db.memory.transaction.max",
            "db.memory.transaction.total.max",
            "server.db.query_cache_size",
            "dbms.memory.tracking.enable",
            "dbms.memory.transaction.total.max",
            "server.memory.heap.initial_size",
            "server.memory.heap.max_size",
            "server.memory.pagecache.directio",
            "server.memory.pagecache.flush.buffer.enabled",
            "server.memory.pagecache.flush.buffer.size_in_pages",
            "server.memory.pagecache.scan.prefetchers",
            "server.memory.pagecache.size",
            "server.memory.query_cache.sharing_enabled",
            "server.memory.query_cache.shared_cache_num_entries",
            "server.memory.query_cache.per_db_cache_num_entries",
        ],
    ),
    (
        "metrics",
        &[
            "server.metrics.csv.enabled",
            "server.metrics.csv.interval",
            "server.metrics.csv.rotation.compression",
            "server.metrics.csv.rotation.keep_number",
            "server.metrics.csv.rotation.size",
            "server.metrics.enabled",
            "server.metrics.filter",
            "server.metrics.graphite.enabled",
            "server.metrics.graphite.interval",
            "server.metrics.graphite.server",
            "server.metrics.jmx.enabled",
            "server.metrics.prefix",
            "server.metrics.prometheus.enabled",
            "server.metrics.prometheus.endpoint",
        ],
    ),
    (
        "browser and client",
        &[
            "browser.allow_outgoing_connections",
            "browser.credential_timeout",
            "browser.post_connect_cmd",
            "browser.remote_content_hostname_whitelist",
            "browser.retain_connection_credentials",
            "browser.retain_editor_history",
            "client.allow_telemetry",
        ],
    ),
    (
        "kubernetes",
        &[
            "dbms.kubernetes.address",
            "dbms.kubernetes.ca_crt",
            "dbms.kubernetes.cluster_domain",
            "dbms.kubernetes.label_selector",
            "dbms.kubernetes.namespace",
            "dbms.kubernetes.discovery.service_port_name",
            "dbms.kubernetes.token",
        ],
    ),
    (
        "security",
        &[
            "dbms.security.allow_csv_import_from_file_urls",
            "dbms.security.auth_cache_max_capacity",
            "dbms.security.auth_cache_ttl",
            "dbms.security.auth_cache_use_ttl",
            "dbms.security.auth_enabled",
            "dbms.security.auth_minimum_password_length",
            "dbms.security.auth_lock_time",
            "dbms.security.auth_max_failed_attempts",
            "dbms.security.authentication_providers",
            "dbms.security.authorization_providers",
            "dbms.security.cluster_status_auth_enabled",
            "dbms.security.http_access_control_allow_origin",
            "dbms.security.http_auth_allowlist",
            "dbms.security.http_strict_transport_security",
            "dbms.security.http_static_content_security_policy_header",
            "dbms.security.key.name",
            "dbms.security.keystore.password",
            "dbms.security.keystore.path",
            "dbms.security.ldap.authentication.attribute",
            "dbms.security.ldap.authentication.cache_enabled",
            "dbms.security.ldap.authentication.mechanism",
            "dbms.security.ldap.authentication.search_for_attribute",
            "dbms.security.ldap.authentication.user_dn_template",
            "dbms.security.ldap.authorization.access_permitted_group",
            "dbms.security.ldap.authorization.group_membership_attributes",
            "dbms.security.ldap.authorization.group_to_role_mapping",
            "dbms.security.ldap.authorization.nested_groups_enabled",
            "dbms.security.ldap.authorization.nested_groups_search_filter",
            "dbms.security.ldap.authorization.system_password",
            "dbms.security.ldap.authorization.system_username",
            "dbms.security.ldap.authorization.use_system_account",
            "dbms.security.ldap.authorization.user_search_base",
            "dbms.security.ldap.authorization.user_search_filter",
            "dbms.security.ldap.connection_timeout",
            "dbms.security.ldap.host",
            "dbms.security.ldap.read_timeout",
            "dbms.security.ldap.referral",
            "dbms.security.ldap.use_starttls",
            "dbms.security.log_successful_authentication",
            "dbms.security.logs.ldap.groups_at_debug_level_enabled",
            "dbms.security.logs.oidc.jwt_claims_at_debug_level_enabled",
            "dbms.security.oidc.<provider>.audience",
            "dbms.security.oidc.<provider>.auth_endpoint",
            "dbms.security.oidc.<provider>.auth_flow",
            "dbms.security.oidc.<provider>.auth_params",
            "dbms.security.oidc.<provider>.authorization.group_to_role_mapping",
            "dbms.security.oidc.<provider>.claims.groups",
            "dbms.security.oidc.<provider>.claims.username",
            "dbms.security.oidc.<provider>.client_id",
            "dbms.security.oidc.<provider>.config",
            "dbms.security.oidc.<provider>.display_name",
            "dbms.security.oidc.<provider>.get_groups_from_user_info",
            "dbms.security.oidc.<provider>.get_username_from_user_info",
            "dbms.security.oidc.<provider>.issuer",
            "dbms.security.oidc.<provider>.jwks_uri",
            "dbms.security.oidc.<provider>.params",
            "dbms.security.oidc.<provider>.token_endpoint",
            "dbms.security.oidc.<provider>.token_params",
            "dbms.security.oidc.<provider>.user_info_uri",
            "dbms.security.oidc.<provider>.well_known_discovery_uri",
            "dbms.security.procedures.allowlist",
            "dbms.security.procedures.unrestricted",
            "dbms.security.require_local_user",
            "dbms.netty.ssl.provider",
        ],
    ),
    // The SSL framework's scopes boltgate has no connector for (the manual's ssl-framework page).
    (
        "ssl framework",
        &[
            "dbms.ssl.policy.backup.<suffix>",
            "dbms.ssl.policy.fabric.<suffix>",
        ],
    ),
    (
        "server directories",
        &[
            "server.directories.cluster_state",
            "server.directories.configuration",
            "server.directories.data",
            "server.directories.dumps.root",
            "server.directories.import",
            "server.directories.lib",
            "server.directories.licenses",
            "server.directories.logs",
            "server.directories.metrics",
            "server.directories.plugins",
            "server.directories.run",
            "server.directories.script.root",
            "server.directories.transaction.logs.root",
        ],
    ),
    (
        "server",
        &[
            "server.backup.enabled",
            "server.backup.exec_connector.command",
            "server.backup.exec_connector.scheme",
            "server.backup.listen_address",
            "server.backup.store_copy_max_retry_time_per_request",
            "server.config.strict_validation.enabled",
            "server.databases.default_to_read_only",
            "server.databases.read_only",
            "server.databases.writable",
            "server.dynamic.setting.allowlist",
            "server.jvm.additional",
            "server.panic.shutdown_on_panic",
            "server.threads.worker_count",
            "server.unmanaged_extension_classes",
            "server.windows_service_name",
        ],
    ),
    (
        "transaction",
        &[
            "db.lock.acquisition.timeout",
            "db.shutdown_transaction_end_timeout",
            "db.transaction.bookmark_ready_timeout",
            "db.transaction.concurrent.maximum",
            "db.transaction.monitor.check.interval",
            "db.transaction.sampling.percentage",
            "db.transaction.timeout",
            "db.transaction.tracing.level",
            "server.http.transaction_idle_timeout",
            "server.queryapi.transaction_idle_timeout",
        ],
    ),
    (
        "transaction log",
        &[
            "db.recovery.fail_on_missing_files",
            "db.tx_log.buffer.size",
            "db.tx_log.preallocate",
            "db.tx_log.rotation.retention_policy",
            "db.tx_log.rotation.size",
        ],
    ),
    // Neo4j 4.x names still found in operators' files (4.x names of settings boltgate uses are
    // refused with their new name instead, see settings::Setting::renamed_from).
    (
        "neo4j 4.x",
        &[
            "dbms.connector.bolt.enabled",
            "dbms.connector.bolt.advertised_address",
            "dbms.connector.http.advertised_address",
            "dbms.connector.https.advertised_address",
            "dbms.default_listen_address",
            "dbms.default_advertised_address",
            "dbms.default_database",
            "dbms.directories.data",
            "dbms.directories.plugins",
            "dbms.directories.logs",
            "dbms.directories.lib",
            "dbms.directories.run",
            "dbms.directories.import",
            "dbms.directories.certificates",
            "dbms.directories.metrics",
            "dbms.directories.transaction.logs.root",
            "dbms.directories.dumps.root",
            "dbms.memory.heap.initial_size",
            "dbms.memory.heap.max_size",
            "dbms.memory.pagecache.size",
            "dbms.jvm.additional",
            "dbms.tx_log.rotation.retention_policy",
            "dbms.allow_upgrade",
            "dbms.windows_service_name",
            "dbms.mode",
            "dbms.backup.enabled",
            "dbms.backup.listen_address",
            "dbms.transaction.timeout",
            "dbms.logs.query.enabled",
            "dbms.logs.gc.enabled",
            "dbms.query_cache_size",
            "dbms.tx_state.memory_allocation",
            "dbms.connectors.default_listen_address",
            "dbms.connectors.default_advertised_address",
        ],
    ),
];

/// Settings that may appear more than once, each adding to the last (as in Neo4j).
pub const REPEATABLE: &[&str] = &["server.jvm.additional", "dbms.jvm.additional"];

/// Whether `key` is one of Neo4j's settings that boltgate does not use.
pub fn is_neo4j_setting(key: &str) -> bool {
    names().any(|name| matches(name, key))
}

fn names() -> impl Iterator<Item = &'static str> {
    NEO4J_SETTINGS
        .iter()
        .flat_map(|(_, names)| names.iter().copied())
}

/// `<...>` in a name matches one dot-free segment (`<suffix>` the rest of the key).
fn matches(name: &str, key: &str) -> bool {
    if !name.contains('<') {
        return name == key;
    }
    let mut key_parts = key.split('.');
    for part in name.split('.') {
        match (part, key_parts.next()) {
            ("<suffix>", Some(_)) => return true,
            (p, Some(k)) if p.starts_with('<') => {
                if k.is_empty() {
                    return false;
                }
            }
            (p, Some(k)) if p == k => {}
            _ => return false,
        }
    }
    key_parts.next().is_none()
}

/// The Neo4j name closest to `key` (a typo of a real name), for "did you mean".
pub fn suggest(key: &str) -> Option<&'static str> {
    names()
        .filter(|n| !n.contains('<'))
        .map(|n| (super::settings::edit_distance(key, n), n))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// What boltgate does instead, for the start-up list of ignored settings; None when boltgate has
/// nothing like it (a database's own concern: memory, storage, Cypher, ...).
pub fn equivalent(key: &str, value: &str) -> Option<&'static str> {
    Some(match key {
        "server.jvm.additional" | "dbms.jvm.additional"
            if value.contains("javax.net.debug") =>
        {
            "boltgate.log.tls_handshake_debug=true logs each TLS handshake step"
        }
        "server.jvm.additional" | "dbms.jvm.additional" => "boltgate runs no JVM",
        "server.bolt.enabled" | "dbms.connector.bolt.enabled" => {
            "boltgate always serves Bolt on server.bolt.listen_address"
        }
        "server.default_listen_address" | "dbms.default_listen_address"
        | "dbms.connectors.default_listen_address" => {
            "boltgate does not derive addresses from it: set server.bolt.listen_address (and server.http.listen_address)"
        }
        "server.default_advertised_address" | "server.bolt.advertised_address"
        | "dbms.default_advertised_address" | "dbms.connector.bolt.advertised_address"
        | "dbms.connectors.default_advertised_address" => {
            "boltgate.routing.advertised_addresses is what boltgate tells routing clients"
        }
        "dbms.routing_ttl" => "boltgate.routing.ttl",
        "dbms.netty.ssl.provider" => "boltgate's TLS is rustls; dbms.ssl.policy.<scope>.ciphers and tls_versions choose what it offers",
        "server.config.strict_validation.enabled" => "boltgate --strict refuses settings it does not use",
        "server.metrics.prometheus.enabled" | "server.metrics.prometheus.endpoint"
        | "server.metrics.enabled" => "server.http.enabled=true serves OpenMetrics on /metrics",
        "server.logs.config" | "server.logs.user.config" | "server.logs.debug.enabled" => {
            "boltgate.log.level and boltgate.log.format"
        }
        "server.bolt.connection_keep_alive" => "boltgate.client.idle_timeout closes idle clients",
        "server.bolt.thread_pool_max_size" => "boltgate.client.max_connections bounds connections",
        "dbms.security.auth_enabled" => "authentication is the upstream server's; boltgate relays HELLO/LOGON",
        _ if key.starts_with("dbms.ssl.policy.backup.") || key.starts_with("dbms.ssl.policy.fabric.") => {
            "boltgate has SSL policies for bolt, cluster (its upstream connections) and https only"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_templates_and_typos() {
        assert!(is_neo4j_setting("server.memory.heap.max_size"));
        assert!(is_neo4j_setting("dbms.security.oidc.azure.audience"));
        assert!(!is_neo4j_setting("dbms.security.oidc..audience"));
        assert!(is_neo4j_setting("dbms.ssl.policy.backup.enabled"));
        assert!(!is_neo4j_setting("server.memory.heap.max_sise"));
        assert!(!is_neo4j_setting("server.anything"));
        assert_eq!(
            suggest("server.memory.heap.max_sise"),
            Some("server.memory.heap.max_size")
        );
    }

    #[test]
    fn no_name_is_also_a_boltgate_setting() {
        for name in names() {
            assert!(
                super::super::settings::lookup(name).is_err(),
                "{name} is boltgate's own setting"
            );
        }
    }
}
