//! The images shown inline (PNG, JPEG, GIF, WebP), made harmless: decoded
//! with limits (the pixel count is checked from the header, before any
//! pixel is decoded, so a 30000×30000 "bomb" costs nothing; the decoders'
//! allocations are bounded too), turned as their orientation says, and
//! encoded again from the pixels alone. Nothing of the original file but
//! its pixels survives: no EXIF (GPS position), no comment chunk, no
//! trailing bytes (a GIF that is also JavaScript). A thumbnail is made when
//! the image is larger than [`THUMB_SIDE`].
//!
//! Everything here blocks: it runs on the blocking pool, a few jobs at a
//! time (`super::FileState::work`), never on the hub or a tokio worker.

use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{AnimationDecoder, DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

/// A thumbnail's largest side, pixels.
pub(crate) const THUMB_SIDE: u32 = 320;
/// JPEG quality of re-encoded photos and thumbnails.
const JPEG_QUALITY: u8 = 85;
/// Most frames of an animated GIF.
const MAX_FRAMES: u64 = 1000;
/// The decoders' allocations besides the image's own pixels.
const DECODER_SLACK: u64 = 64 << 20;

/// One of the image types shown inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// GIF, animated or not.
    Gif,
    /// WebP.
    Webp,
}

impl Kind {
    /// The image type of a sniffed MIME type, if it is one shown inline.
    pub(crate) fn of_mime(mime: &str) -> Option<Kind> {
        Some(match mime {
            "image/png" => Kind::Png,
            "image/jpeg" => Kind::Jpeg,
            "image/gif" => Kind::Gif,
            "image/webp" => Kind::Webp,
            _ => return None,
        })
    }

    /// Its MIME type.
    pub(crate) fn mime(self) -> &'static str {
        match self {
            Kind::Png => "image/png",
            Kind::Jpeg => "image/jpeg",
            Kind::Gif => "image/gif",
            Kind::Webp => "image/webp",
        }
    }

    fn format(self) -> ImageFormat {
        match self {
            Kind::Png => ImageFormat::Png,
            Kind::Jpeg => ImageFormat::Jpeg,
            Kind::Gif => ImageFormat::Gif,
            Kind::Webp => ImageFormat::WebP,
        }
    }

    /// The MIME type of its thumbnail: JPEG for photos, PNG for the rest
    /// (they may be transparent).
    pub(crate) fn thumb_mime(self) -> &'static str {
        match self {
            Kind::Jpeg => "image/jpeg",
            _ => "image/png",
        }
    }
}

/// What was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Made {
    /// Width, pixels (orientation applied).
    pub(crate) width: u32,
    /// Height, pixels.
    pub(crate) height: u32,
    /// Bytes of the re-encoded image.
    pub(crate) size: u64,
    /// Whether a thumbnail was written.
    pub(crate) thumb: bool,
}

/// Why an image was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// More pixels than allowed (width, height as its header says).
    TooManyPixels(u64, u64),
    /// It could not be read (truncated, malformed, over a decoder limit).
    Unreadable(String),
}

impl From<image::ImageError> for Refusal {
    fn from(e: image::ImageError) -> Refusal {
        Refusal::Unreadable(e.to_string())
    }
}

impl From<std::io::Error> for Refusal {
    fn from(e: std::io::Error) -> Refusal {
        Refusal::Unreadable(e.to_string())
    }
}

/// Decodes `input` as `kind` (at most `max_pixels`), writes it encoded
/// again to `output`, and a thumbnail to `thumb` when it is larger than
/// [`THUMB_SIDE`].
pub(crate) fn remake(
    kind: Kind,
    input: &Path,
    output: &Path,
    thumb: &Path,
    max_pixels: u64,
) -> Result<Made, Refusal> {
    let mut limits = Limits::default();
    limits.max_alloc = Some(max_pixels.saturating_mul(4).saturating_add(DECODER_SLACK));
    let (first, frames) = match kind {
        Kind::Gif => {
            let (first, frames) = gif_frames(input, limits, max_pixels)?;
            (first, Some(frames))
        }
        _ => (still(kind, input, limits, max_pixels)?, None),
    };
    let (width, height) = (first.width(), first.height());
    let mut out = BufWriter::new(File::create(output)?);
    match frames {
        Some(frames) => {
            let mut encoder = GifEncoder::new_with_speed(&mut out, 10);
            encoder.set_repeat(Repeat::Infinite)?;
            encoder.encode_frames(frames)?;
        }
        None => encode(kind, &first, &mut out)?,
    }
    out.flush()?;
    drop(out);
    let size = std::fs::metadata(output)?.len();
    let made_thumb = width > THUMB_SIDE || height > THUMB_SIDE;
    if made_thumb {
        let small = first.thumbnail(THUMB_SIDE, THUMB_SIDE);
        let mut out = BufWriter::new(File::create(thumb)?);
        match kind {
            Kind::Jpeg => encode(Kind::Jpeg, &small, &mut out)?,
            _ => encode(Kind::Png, &small, &mut out)?,
        }
        out.flush()?;
    }
    Ok(Made {
        width,
        height,
        size,
        thumb: made_thumb,
    })
}

/// Refuses a `width`×`height` image of more than `max_pixels`.
fn check_pixels(width: u32, height: u32, max_pixels: u64) -> Result<(), Refusal> {
    let (w, h) = (u64::from(width), u64::from(height));
    if w * h > max_pixels || w == 0 || h == 0 {
        return Err(Refusal::TooManyPixels(w, h));
    }
    Ok(())
}

/// A still image, decoded and turned upright.
fn still(
    kind: Kind,
    input: &Path,
    limits: Limits,
    max_pixels: u64,
) -> Result<DynamicImage, Refusal> {
    let mut reader = ImageReader::with_format(BufReader::new(File::open(input)?), kind.format());
    reader.limits(limits);
    let mut decoder = reader.into_decoder()?;
    let (width, height) = decoder.dimensions();
    check_pixels(width, height, max_pixels)?;
    let orientation = decoder.orientation()?;
    let mut image = DynamicImage::from_decoder(decoder)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// A GIF's frames (its first as an image, for the size and thumbnail), at
/// most `max_pixels` over all frames and [`MAX_FRAMES`] frames.
fn gif_frames(
    input: &Path,
    limits: Limits,
    max_pixels: u64,
) -> Result<(DynamicImage, Vec<image::Frame>), Refusal> {
    let mut decoder = GifDecoder::new(BufReader::new(File::open(input)?))?;
    let (width, height) = decoder.dimensions();
    check_pixels(width, height, max_pixels)?;
    decoder.set_limits(limits)?;
    let per_frame = u64::from(width) * u64::from(height);
    let mut frames = Vec::new();
    for frame in decoder.into_frames() {
        let frame = frame?;
        let decoded = (frames.len() as u64 + 1) * per_frame;
        if frames.len() as u64 >= MAX_FRAMES || decoded > max_pixels {
            return Err(Refusal::TooManyPixels(
                u64::from(width),
                u64::from(height) * (frames.len() as u64 + 1),
            ));
        }
        frames.push(frame);
    }
    let Some(first) = frames.first() else {
        return Err(Refusal::Unreadable("the GIF has no frame".into()));
    };
    let first = DynamicImage::ImageRgba8(first.buffer().clone());
    Ok((first, frames))
}

/// Writes `image` as `kind`, from its pixels alone.
fn encode(kind: Kind, image: &DynamicImage, out: &mut impl Write) -> Result<(), Refusal> {
    match kind {
        Kind::Png => image.write_with_encoder(PngEncoder::new(out))?,
        Kind::Jpeg => DynamicImage::ImageRgb8(image.to_rgb8())
            .write_with_encoder(JpegEncoder::new_with_quality(out, JPEG_QUALITY))?,
        Kind::Webp => DynamicImage::ImageRgba8(image.to_rgba8())
            .write_with_encoder(WebPEncoder::new_lossless(out))?,
        Kind::Gif => {
            let mut encoder = GifEncoder::new_with_speed(out, 10);
            encoder.encode_frame(image::Frame::new(image.to_rgba8()))?;
        }
    }
    Ok(())
}
