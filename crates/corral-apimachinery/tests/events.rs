//! core/v1 <-> events.k8s.io/v1 Event conversion.

use corral_apimachinery::events::{core_to_events_v1, events_v1_to_core, is_events_v1, to_core};
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/data/events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("fixture readable");
    serde_json::from_str(&text).expect("fixture is JSON")
}

#[test]
fn full_objects_convert_both_ways() {
    let core = fixture("core.json");
    let v1 = fixture("events_v1.json");
    assert_eq!(core_to_events_v1(&core), v1);
    assert_eq!(events_v1_to_core(&v1), core);
    assert_eq!(events_v1_to_core(&core_to_events_v1(&core)), core);
    assert_eq!(core_to_events_v1(&events_v1_to_core(&v1)), v1);
}

#[test]
fn sparse_objects_get_go_shape_and_round_trip() {
    // (core input, expected events.k8s.io form, expected core form after the round trip)
    let cases = [
        (
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "d"},
                   "involvedObject": {"kind": "Pod", "name": "p"}, "message": "hi", "count": 0}),
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e", "namespace": "d"},
                   "eventTime": null, "regarding": {"kind": "Pod", "name": "p"}, "note": "hi",
                   "deprecatedSource": {}, "deprecatedFirstTimestamp": null, "deprecatedLastTimestamp": null}),
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "d"},
                   "involvedObject": {"kind": "Pod", "name": "p"}, "message": "hi", "source": {},
                   "firstTimestamp": null, "lastTimestamp": null, "eventTime": null,
                   "reportingComponent": "", "reportingInstance": ""}),
        ),
        (
            json!({}),
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {}, "eventTime": null,
                   "regarding": {}, "deprecatedSource": {}, "deprecatedFirstTimestamp": null, "deprecatedLastTimestamp": null}),
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {}, "involvedObject": {}, "source": {},
                   "firstTimestamp": null, "lastTimestamp": null, "eventTime": null,
                   "reportingComponent": "", "reportingInstance": ""}),
        ),
    ];
    for (core, want_v1, want_core) in cases {
        let v1 = core_to_events_v1(&core);
        assert_eq!(v1, want_v1, "from {core}");
        let back = events_v1_to_core(&v1);
        assert_eq!(back, want_core, "back from {v1}");
        // normalized forms are fixed points
        assert_eq!(events_v1_to_core(&core_to_events_v1(&back)), back);
    }
}

#[test]
fn unknown_fields_dropped_and_detection() {
    let v1 = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
                    "note": "n", "bogus": 1, "involvedObject": {"kind": "X"}});
    let core = events_v1_to_core(&v1);
    assert!(core.get("bogus").is_none());
    assert_eq!(
        core["involvedObject"],
        json!({}),
        "core field names are not read from the v1 form"
    );
    assert_eq!(core["message"], "n");
    assert!(is_events_v1(&v1));
    assert!(!is_events_v1(&core));
    assert_eq!(to_core(&v1), core);
    assert_eq!(to_core(&core), core);
}
