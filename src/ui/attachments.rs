//! *1.2* (section 5): a message's files. Images inline (their thumbnail,
//! a link to the full size, `alt` from the file name) with their width and
//! height given, so the page keeps their place before they load; other
//! files as a link with name, type and size. The same markup without
//! JavaScript. Every name is a text node or an attribute value (escaped).

use crate::protocol::Attachment;
use leptos::prelude::*;

/// An inline image's largest side on the page, CSS pixels.
const SHOWN_SIDE: u32 = 320;

/// `w`×`h` scaled to fit [`SHOWN_SIDE`] (never enlarged, never 0).
pub fn fit(w: u32, h: u32) -> (u32, u32) {
    let (w, h) = (w.max(1), h.max(1));
    let side = w.max(h);
    if side <= SHOWN_SIDE {
        return (w, h);
    }
    let scale = |v: u32| ((u64::from(v) * u64::from(SHOWN_SIDE) / u64::from(side)) as u32).max(1);
    (scale(w), scale(h))
}

/// A size for people: bytes, KB or MB with one decimal (integers only:
/// float formatting would cost the page's WASM).
pub fn size_text(bytes: u64) -> String {
    let tenths = |unit: u64| {
        let t = (bytes * 10 + unit / 2) / unit;
        format!("{}.{}", t / 10, t % 10)
    };
    match bytes {
        0..=999 => format!("{bytes} B"),
        // Up to what rounds to 1000.0 KB: that is 1.0 MB.
        1_000..=999_949 => format!("{} KB", tenths(1_000)),
        _ => format!("{} MB", tenths(1_000_000)),
    }
}

/// A message's attachments (nothing when it has none).
#[component]
pub fn Attachments(files: Vec<Attachment>) -> impl IntoView {
    (!files.is_empty()).then(|| {
        view! {
            <ul class="attachments" data-testid="attachments">
                {files.into_iter().map(|a| view! { <li>{one(a)}</li> }).collect_view()}
            </ul>
        }
    })
}

fn one(a: Attachment) -> impl IntoView {
    match (a.width, a.height) {
        (Some(w), Some(h)) => {
            let (w, h) = fit(w, h);
            let src = a.thumb_url.clone().unwrap_or_else(|| a.url.clone());
            leptos::either::Either::Left(view! {
                <a class="image" href=a.url target="_blank" rel="noopener" data-testid="image">
                    <img src=src width=w height=h alt=a.name loading="lazy" />
                </a>
            })
        }
        _ => leptos::either::Either::Right(view! {
            <a class="file" href=a.url download=a.name.clone() data-testid="file">
                <span class="name">{a.name.clone()}</span>
                <span class="meta">{format!("{} · {}", a.mime, size_text(a.size))}</span>
            </a>
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_fit_their_box_and_small_ones_stay_as_they_are() {
        assert_eq!(fit(4000, 3000), (320, 240));
        assert_eq!(fit(300, 9000), (10, 320));
        assert_eq!(fit(320, 10), (320, 10));
        assert_eq!(fit(0, 0), (1, 1));
        assert_eq!(fit(100_000, 1), (320, 1));
    }

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(size_text(999), "999 B");
        assert_eq!(size_text(1_000), "1.0 KB");
        assert_eq!(size_text(12_345), "12.3 KB");
        assert_eq!(size_text(999_949), "999.9 KB");
        assert_eq!(size_text(999_950), "1.0 MB");
        assert_eq!(size_text(25 << 20), "26.2 MB");
    }
}
