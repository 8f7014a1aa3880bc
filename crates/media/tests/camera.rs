//! A camera that is not there is a typed error the window can show, never a panic, and the
//! synthetic camera is always offered.

use aula_media::{DeviceKind, MediaError, SYNTHETIC_PATTERN, list_cameras, open_camera};

#[test]
fn a_missing_camera_is_no_device_and_the_test_pattern_is_always_there() {
    for id in ["camera:4000", "not-a-camera", ""] {
        match open_camera(id) {
            Err(e) => {
                assert!(
                    matches!(
                        e,
                        MediaError::NoDevice {
                            kind: DeviceKind::Camera
                        }
                    ),
                    "{id}: {e:?}"
                );
                assert_eq!(e.code(), "no_device");
            }
            Ok(_) => panic!("{id} opened"),
        }
    }
    assert!(list_cameras().iter().any(|d| d.id == SYNTHETIC_PATTERN));
    let mut pattern = open_camera(SYNTHETIC_PATTERN).unwrap();
    assert!(pattern.capture().is_ok());
}
