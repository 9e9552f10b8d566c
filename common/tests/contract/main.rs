//! One contract suite for both implementations of the bus and the registry: every case
//! below runs once against the in-process implementation (`memory::...`), once against a
//! real redis-server (`redis::...`) and once against one that speaks only TLS
//! (`redis_tls::...`), each Redis test under its own random key prefix.

mod auth_store;
mod backend;
mod bus;
mod nodes;
mod redis_only;
mod registry;
mod tls;

/// Generates one `#[tokio::test]` per case for a backend, in a module named after it.
macro_rules! contract {
    ($module:ident, $backend:expr; $($group:ident :: $case:ident),* $(,)?) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = $backend;
                    crate::$group::$case(&backend).await;
                }
            )*
        }
    };
}

macro_rules! contract_suite {
    ($module:ident, $backend:expr) => {
        contract!($module, $backend;
            registry::ping_succeeds,
            registry::a_stream_can_be_put_got_listed_and_deleted,
            registry::put_stream_replaces_every_field,
            registry::streams_are_listed_sorted_by_camera_id,
            registry::camera_status_is_kept_per_camera,
            registry::camera_status_expires_after_its_ttl_and_a_keepalive_renews_it,
            registry::viewers_are_listed_by_camera_by_instance_and_all_sorted_by_creation,
            registry::put_viewer_moves_the_viewer_to_its_new_instance,
            registry::remove_viewer_frees_the_slot_the_record_and_every_index,
            registry::remove_viewer_frees_a_slot_reserved_without_a_record,
            registry::fifty_concurrent_reservations_against_limit_ten_yield_ten_reserved_and_forty_full,
            registry::reserving_on_a_missing_stream_is_stream_not_found,
            registry::reserving_a_viewer_writes_its_record_with_the_slot_and_an_existing_holder_keeps_its_record,
            registry::reserving_again_with_the_same_viewer_is_idempotent_even_when_full,
            registry::delete_stream_frees_its_slots,
            registry::liveness_expires_after_its_ttl,
            registry::known_instances_lists_registered_instances_until_forgotten,
            registry::controller_heartbeat_expires_after_its_ttl,
            registry::the_lease_is_exclusive_renewable_and_lapses_after_its_ttl,
            registry::a_released_lease_can_be_taken_by_another_holder,
            registry::writes_fenced_with_an_ended_term_are_refused_and_change_nothing,
            registry::a_fence_outside_any_term_refuses_every_write,
            registry::the_media_session_is_stored,
            registry::a_stream_source_is_kept_apart_from_the_record_until_deleted,
            nodes::node_heartbeats_are_got_and_listed_sorted_by_id_and_the_newest_replaces_the_last,
            nodes::a_node_disappears_once_its_heartbeat_lapses_and_comes_back_with_the_next,
            nodes::a_draining_mark_outlives_the_next_heartbeat_until_cleared,
            nodes::forgetting_a_node_removes_its_record_and_its_draining_mark,
            nodes::node_heartbeats_are_not_fenced_but_draining_marks_and_forgetting_are,
            nodes::a_cameras_node_is_kept_after_its_stream_and_its_write_is_fenced,
            bus::a_command_pushed_before_the_consumer_exists_is_delivered,
            bus::commands_are_delivered_in_push_order_at_most_max_at_a_time,
            bus::an_unacknowledged_command_is_redelivered_to_the_same_consumer_after_a_restart,
            bus::an_acknowledged_command_never_comes_back,
            bus::a_full_command_queue_refuses_the_next_command_and_drops_none_of_those_waiting,
            bus::one_handle_hands_out_an_unacknowledged_command_once,
            bus::read_commands_wakes_up_for_a_push_during_block,
            bus::a_blocked_read_does_not_hold_up_pushes_on_the_same_handle,
            bus::read_commands_returns_nothing_after_block_on_an_empty_queue,
            bus::acknowledging_a_malformed_delivery_id_is_malformed,
            bus::a_published_envelope_reaches_every_subscriber_of_that_instance_only,
            bus::a_request_gets_the_reply_of_a_responder,
            bus::a_request_times_out_when_nobody_answers,
            bus::envelopes_that_are_not_replies_come_out_as_events,
        );
    };
}

contract_suite!(memory, crate::backend::Memory::new());
contract_suite!(redis, crate::backend::Redis::new());
contract_suite!(redis_tls, crate::backend::Redis::tls());
