//! Images: bounded decoding, orientation, metadata stripping, thumbnails, avatars.
//!
//! Decoding is refused before any pixel buffer exists when the header announces
//! more than MEDIA_IMAGE_MAX_SIDE pixels on a side or a buffer over
//! MEDIA_IMAGE_MAX_ALLOC bytes, so a decompression bomb costs nothing.
//!
//! The stored copy carries no metadata: when the EXIF orientation is the identity,
//! the file is rewritten losslessly without its metadata segments/chunks (JPEG
//! APP1-APP15 except Adobe's APP14, and COM; PNG text, eXIf, iCCP and time chunks;
//! WebP EXIF, XMP and ICC chunks; GIF comments and foreign application blocks); when
//! it is not, the pixels are turned upright and re-encoded, which drops it all.
//! Thumbnails (longest side 320 px) and avatars (640 px) are JPEGs.

use std::io::Cursor;
use std::time::{Duration, Instant};

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage};

/// Longest side of a thumbnail, in pixels (API.md).
pub const THUMBNAIL_SIDE: u32 = 320;
/// Longest side of an avatar, in pixels.
pub const AVATAR_SIDE: u32 = 640;
const THUMBNAIL_QUALITY: u8 = 75;
const REENCODE_QUALITY: u8 = 85;

/// How large an image may be decoded (MEDIA_IMAGE_MAX_SIDE, MEDIA_IMAGE_MAX_ALLOC).
#[derive(Debug, Clone, Copy)]
pub struct ImageLimits {
    pub max_side: u32,
    pub max_alloc: u64,
}

/// Why an image was refused (422 on `file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRefusal {
    TooLarge { width: u32, height: u32 },
    Undecodable,
}

impl ImageRefusal {
    pub fn message(&self, limits: &ImageLimits) -> String {
        match self {
            ImageRefusal::TooLarge { width, height } => format!(
                "The image is too large to process ({width} x {height}); images may be at most {} pixels on a side and {} megapixels.",
                limits.max_side,
                limits.max_alloc / 4 / 1_000_000
            ),
            ImageRefusal::Undecodable => "The file could not be read as an image.".to_string(),
        }
    }
}

/// Where the time of one image went (docs/benchmarks.md).
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    pub decode: Duration,
    pub orient: Duration,
    pub encode: Duration,
    pub thumbnail: Duration,
}

/// An image message ready to store.
#[derive(Debug)]
pub struct ProcessedImage {
    /// As displayed: after orientation.
    pub width: u32,
    pub height: u32,
    /// The copy to store, without metadata, in the uploaded format.
    pub clean: Vec<u8>,
    /// JPEG, longest side at most [`THUMBNAIL_SIDE`].
    pub thumbnail: Vec<u8>,
    pub timings: Timings,
}

/// A profile or group photo ready to store: a JPEG of at most [`AVATAR_SIDE`].
#[derive(Debug)]
pub struct AvatarImage {
    pub width: u32,
    pub height: u32,
    pub jpeg: Vec<u8>,
}

/// The image crate's format for a sniffed MIME type (the allowed image types).
pub fn format_of(mime: &str) -> Option<ImageFormat> {
    match mime {
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/png" => Some(ImageFormat::Png),
        "image/webp" => Some(ImageFormat::WebP),
        "image/gif" => Some(ImageFormat::Gif),
        _ => None,
    }
}

/// Decodes an uploaded image, strips it and makes its thumbnail.
pub fn process_message_image(
    bytes: &[u8],
    format: ImageFormat,
    limits: &ImageLimits,
) -> Result<ProcessedImage, ImageRefusal> {
    let mut timings = Timings::default();
    let started = Instant::now();
    let (image, orientation) = decode(bytes, format, limits)?;
    timings.decode = started.elapsed();

    let started = Instant::now();
    let thumbnail = thumbnail_jpeg(&image, orientation, THUMBNAIL_SIDE, THUMBNAIL_QUALITY)?;
    timings.thumbnail = started.elapsed();

    // GIFs carry no orientation; they are only ever rewritten losslessly.
    let (clean, width, height) =
        if orientation == Orientation::NoTransforms || format == ImageFormat::Gif {
            let started = Instant::now();
            let stripped = strip_metadata(bytes, format);
            timings.encode = started.elapsed();
            let clean = match stripped {
                Some(clean) => clean,
                None => encode_as(&image, format)?,
            };
            (clean, image.width(), image.height())
        } else {
            let started = Instant::now();
            let upright = orient(image, orientation);
            timings.orient = started.elapsed();
            let started = Instant::now();
            let clean = encode_as(&upright, format)?;
            timings.encode = started.elapsed();
            (clean, upright.width(), upright.height())
        };
    Ok(ProcessedImage {
        width,
        height,
        clean,
        thumbnail,
        timings,
    })
}

/// Decodes an uploaded photo and makes the avatar: upright, at most 640 px, JPEG.
pub fn process_avatar(
    bytes: &[u8],
    format: ImageFormat,
    limits: &ImageLimits,
) -> Result<AvatarImage, ImageRefusal> {
    let (image, orientation) = decode(bytes, format, limits)?;
    let small = fit_within(&image, AVATAR_SIDE);
    let mut upright = small;
    upright.apply_orientation(orientation);
    let jpeg = encode_jpeg(&upright, REENCODE_QUALITY)?;
    Ok(AvatarImage {
        width: upright.width(),
        height: upright.height(),
        jpeg,
    })
}

/// Decodes within the limits; the EXIF orientation comes back beside the pixels.
fn decode(
    bytes: &[u8],
    format: ImageFormat,
    limits: &ImageLimits,
) -> Result<(DynamicImage, Orientation), ImageRefusal> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut image_limits = Limits::default();
    image_limits.max_image_width = Some(limits.max_side);
    image_limits.max_image_height = Some(limits.max_side);
    image_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(image_limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|err| refusal(&err, bytes, format))?;
    let (width, height) = decoder.dimensions();
    // Not every decoder accounts its allocations; the output buffer is checked here.
    if decoder.total_bytes() > limits.max_alloc {
        return Err(ImageRefusal::TooLarge { width, height });
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(|err| refusal(&err, bytes, format))?;
    Ok((image, orientation))
}

fn refusal(err: &ImageError, bytes: &[u8], format: ImageFormat) -> ImageRefusal {
    match err {
        ImageError::Limits(_) => {
            let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
                .into_dimensions()
                .unwrap_or_default();
            ImageRefusal::TooLarge { width, height }
        }
        _ => ImageRefusal::Undecodable,
    }
}

/// Turns a decoded image upright. Quarter turns of RGB images (what phone JPEGs
/// decode to) go tile by tile, so both sides of the copy stay in cache: measured
/// 4-5 times faster than a pixel-by-pixel turn on a 12-megapixel photo.
fn orient(image: DynamicImage, orientation: Orientation) -> DynamicImage {
    match (image, orientation) {
        (DynamicImage::ImageRgb8(rgb), Orientation::Rotate90) => {
            DynamicImage::ImageRgb8(quarter_turn(&rgb, true))
        }
        (DynamicImage::ImageRgb8(rgb), Orientation::Rotate270) => {
            DynamicImage::ImageRgb8(quarter_turn(&rgb, false))
        }
        (mut other, orientation) => {
            other.apply_orientation(orientation);
            other
        }
    }
}

/// A quarter turn, clockwise or not, copied in 16 x 16 tiles of whole pixels (small enough that the pages of both sides stay in the TLB).
fn quarter_turn(source: &RgbImage, clockwise: bool) -> RgbImage {
    const TILE: usize = 16;
    let (width, height) = (source.width() as usize, source.height() as usize);
    let (src, _) = source.as_raw().as_chunks::<3>();
    let mut raw = vec![0u8; source.as_raw().len()];
    let (out, _) = raw.as_chunks_mut::<3>();
    for tile_y in (0..height).step_by(TILE) {
        for tile_x in (0..width).step_by(TILE) {
            for y in tile_y..(tile_y + TILE).min(height) {
                let row = &src[y * width..(y + 1) * width];
                let end = (tile_x + TILE).min(width);
                for (x, pixel) in (tile_x..end).zip(&row[tile_x..end]) {
                    // The output is `height` pixels wide and `width` tall.
                    let to = if clockwise {
                        x * height + (height - 1 - y)
                    } else {
                        (width - 1 - x) * height + y
                    };
                    out[to] = *pixel;
                }
            }
        }
    }
    RgbImage::from_raw(height as u32, width as u32, raw)
        .unwrap_or_else(|| RgbImage::new(height as u32, width as u32))
}

/// `image` scaled down to fit a `side` x `side` box (never up).
fn fit_within(image: &DynamicImage, side: u32) -> DynamicImage {
    if image.width() <= side && image.height() <= side {
        image.clone()
    } else {
        image.thumbnail(side, side)
    }
}

/// Thumbnails are scaled first and turned upright after: turning 0.1 megapixels
/// costs nothing, turning twelve would.
fn thumbnail_jpeg(
    image: &DynamicImage,
    orientation: Orientation,
    side: u32,
    quality: u8,
) -> Result<Vec<u8>, ImageRefusal> {
    let mut small = fit_within(image, side);
    small.apply_orientation(orientation);
    encode_jpeg(&small, quality)
}

/// Re-encodes in the uploaded format. GIFs are never re-encoded (that would lose
/// their animation): one whose blocks cannot be walked is refused.
fn encode_as(image: &DynamicImage, format: ImageFormat) -> Result<Vec<u8>, ImageRefusal> {
    match format {
        ImageFormat::Jpeg => return encode_jpeg(image, REENCODE_QUALITY),
        ImageFormat::Gif => return Err(ImageRefusal::Undecodable),
        _ => {}
    }
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, format)
        .map_err(|_| ImageRefusal::Undecodable)?;
    Ok(out.into_inner())
}

/// JPEG through `jpeg-encoder` (SIMD, several times faster than image's own
/// encoder); transparency is flattened onto white.
pub fn encode_jpeg(image: &DynamicImage, quality: u8) -> Result<Vec<u8>, ImageRefusal> {
    let owned;
    let rgb: &RgbImage = match image.as_rgb8() {
        Some(rgb) if !image.color().has_alpha() => rgb,
        _ => {
            owned = flatten(image);
            &owned
        }
    };
    let (Ok(width), Ok(height)) = (u16::try_from(rgb.width()), u16::try_from(rgb.height())) else {
        return Err(ImageRefusal::TooLarge {
            width: rgb.width(),
            height: rgb.height(),
        });
    };
    let mut out = Vec::with_capacity(rgb.len() / 8);
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(rgb.as_raw(), width, height, jpeg_encoder::ColorType::Rgb)
        .map_err(|_| ImageRefusal::Undecodable)?;
    Ok(out)
}

fn flatten(image: &DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over_white = |c: u8| ((c as u16 * a as u16 + 255 * (255 - a as u16)) / 255) as u8;
        image::Rgb([over_white(r), over_white(g), over_white(b)])
    })
}

/// The file without its metadata, rewritten losslessly; None when its structure
/// is not what the decoder accepted (then the caller re-encodes).
pub fn strip_metadata(bytes: &[u8], format: ImageFormat) -> Option<Vec<u8>> {
    match format {
        ImageFormat::Jpeg => strip_jpeg(bytes),
        ImageFormat::Png => strip_png(bytes),
        ImageFormat::WebP => strip_webp(bytes),
        ImageFormat::Gif => strip_gif(bytes),
        _ => None,
    }
}

/// Keeps every JPEG segment but APP1-APP15 (EXIF, XMP, ICC, maker notes, ...) other
/// than Adobe's APP14 (it says how to read the colours) and COM; drops anything after
/// EOI (some phones append a second image or a video there).
fn strip_jpeg(bytes: &[u8]) -> Option<Vec<u8>> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&[0xFF, 0xD8]);
    let mut pos = 2;
    loop {
        while bytes.get(pos) == Some(&0xFF) && bytes.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        if bytes.get(pos) != Some(&0xFF) {
            return None;
        }
        let marker = *bytes.get(pos + 1)?;
        match marker {
            0xD9 => {
                out.extend_from_slice(&[0xFF, 0xD9]);
                return Some(out);
            }
            0x01 | 0xD0..=0xD7 => {
                out.extend_from_slice(&bytes[pos..pos + 2]);
                pos += 2;
            }
            _ => {
                let length = u16::from_be_bytes([*bytes.get(pos + 2)?, *bytes.get(pos + 3)?]);
                let end = pos + 2 + length as usize;
                let segment = bytes.get(pos..end)?;
                let adobe = marker == 0xEE && segment.get(4..9) == Some(b"Adobe");
                let metadata = (0xE1..=0xEF).contains(&marker) && !adobe || marker == 0xFE;
                if !metadata {
                    out.extend_from_slice(segment);
                }
                pos = end;
                if marker == 0xDA {
                    let data_end = entropy_end(bytes, pos)?;
                    out.extend_from_slice(&bytes[pos..data_end]);
                    pos = data_end;
                }
            }
        }
    }
}

/// The end of entropy-coded data starting at `pos`: the next marker that is not a
/// stuffed zero or a restart marker.
fn entropy_end(bytes: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let offset = bytes.get(pos..)?.iter().position(|b| *b == 0xFF)?;
        pos += offset;
        match bytes.get(pos + 1)? {
            0x00 | 0xD0..=0xD7 | 0xFF => pos += 1,
            _ => return Some(pos),
        }
    }
}

/// Keeps PNG chunks except text, EXIF, ICC profile and time; ends at IEND.
fn strip_png(bytes: &[u8]) -> Option<Vec<u8>> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    const DROPPED: [&[u8; 4]; 6] = [b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"iCCP", b"tIME"];
    if !bytes.starts_with(SIGNATURE) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(SIGNATURE);
    let mut pos = SIGNATURE.len();
    loop {
        let length = u32::from_be_bytes(bytes.get(pos..pos + 4)?.try_into().ok()?) as usize;
        let kind = bytes.get(pos + 4..pos + 8)?;
        let end = pos.checked_add(12)?.checked_add(length)?;
        let chunk = bytes.get(pos..end)?;
        if !DROPPED.iter().any(|d| d.as_slice() == kind) {
            out.extend_from_slice(chunk);
        }
        if kind == b"IEND" {
            return Some(out);
        }
        pos = end;
    }
}

/// Keeps WebP chunks except EXIF, XMP and ICCP, clears their flags in VP8X and
/// fixes the RIFF size.
fn strip_webp(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.get(0..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WEBP") {
        return None;
    }
    let riff_end = 8 + u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?) as usize;
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..12]);
    let mut pos = 12;
    while pos < riff_end.min(bytes.len()) {
        let kind = bytes.get(pos..pos + 4)?;
        let size = u32::from_le_bytes(bytes.get(pos + 4..pos + 8)?.try_into().ok()?) as usize;
        let end = pos + 8 + size + (size & 1);
        let chunk = bytes.get(pos..end.min(bytes.len()))?;
        if ![b"EXIF", b"XMP ", b"ICCP"]
            .iter()
            .any(|d| d.as_slice() == kind)
        {
            let start = out.len();
            out.extend_from_slice(chunk);
            if kind == b"VP8X" {
                // Flags: ICC 0x20, EXIF 0x08, XMP 0x04.
                *out.get_mut(start + 8)? &= !(0x20 | 0x08 | 0x04);
            }
        }
        pos = end;
    }
    let riff_size = u32::try_from(out.len() - 8).ok()?;
    out[4..8].copy_from_slice(&riff_size.to_le_bytes());
    Some(out)
}

/// Keeps a GIF's images and graphic controls and the looping (NETSCAPE2.0 /
/// ANIMEXTS1.0) block; drops comments, plain-text blocks, other application blocks
/// (XMP lives there) and anything after the trailer.
fn strip_gif(bytes: &[u8]) -> Option<Vec<u8>> {
    if !(bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a")) {
        return None;
    }
    let flags = *bytes.get(10)?;
    let mut pos = 13 + color_table_len(flags);
    let mut out = bytes.get(..pos)?.to_vec();
    loop {
        match *bytes.get(pos)? {
            0x3B => {
                out.push(0x3B);
                return Some(out);
            }
            0x2C => {
                let local = color_table_len(*bytes.get(pos + 9)?);
                let end = sub_blocks_end(bytes, pos + 10 + local + 1)?;
                out.extend_from_slice(bytes.get(pos..end)?);
                pos = end;
            }
            0x21 => {
                let label = *bytes.get(pos + 1)?;
                let end = sub_blocks_end(bytes, pos + 2)?;
                let looping = bytes
                    .get(pos + 3..pos + 14)
                    .is_some_and(|id| id == b"NETSCAPE2.0" || id == b"ANIMEXTS1.0");
                if label == 0xF9 || (label == 0xFF && looping) {
                    out.extend_from_slice(bytes.get(pos..end)?);
                }
                pos = end;
            }
            _ => return None,
        }
    }
}

fn color_table_len(flags: u8) -> usize {
    if flags & 0x80 == 0 {
        0
    } else {
        3 << ((flags & 0x07) + 1)
    }
}

/// The position after a chain of GIF sub-blocks starting at `pos`.
fn sub_blocks_end(bytes: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let size = *bytes.get(pos)? as usize;
        pos += 1 + size;
        if size == 0 {
            return Some(pos);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ImageLimits = ImageLimits {
        max_side: 4096,
        max_alloc: 64 * 1024 * 1024,
    };

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, _| {
            image::Rgb([(x % 256) as u8, 0, 0])
        }));
        encode_jpeg(&image, 90).unwrap()
    }

    /// An APP1 segment holding an EXIF block with Orientation and a GPS pointer.
    fn exif_segment(orientation: u16) -> Vec<u8> {
        let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
        tiff.extend_from_slice(&2u16.to_be_bytes());
        tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0]);
        tiff.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0x26]);
        tiff.extend_from_slice(&[0, 0, 0, 0]);
        tiff.extend_from_slice(&1u16.to_be_bytes());
        tiff.extend_from_slice(&[0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
        tiff.extend_from_slice(&[0, 0, 0, 0]);
        let mut segment = vec![0xFF, 0xE1];
        segment.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
        segment.extend_from_slice(b"Exif\0\0");
        segment.extend_from_slice(&tiff);
        segment
    }

    fn with_exif(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&exif_segment(orientation));
        out.extend_from_slice(b"\xFF\xFE\0\x07hello");
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    fn has_exif(bytes: &[u8]) -> bool {
        bytes.windows(6).any(|w| w == b"Exif\0\0")
    }

    #[test]
    fn an_upright_jpeg_is_stripped_losslessly() {
        let original = with_exif(&jpeg(64, 48), 1);
        assert!(has_exif(&original));
        let processed = process_message_image(&original, ImageFormat::Jpeg, &LIMITS).unwrap();
        assert!(!has_exif(&processed.clean));
        assert!(!processed.clean.windows(5).any(|w| w == b"hello"));
        assert_eq!((processed.width, processed.height), (64, 48));
        let decoded = image::load_from_memory(&processed.clean).unwrap();
        assert_eq!(decoded.width(), 64);
        let pixels_before = image::load_from_memory(&original).unwrap().to_rgb8();
        assert_eq!(
            decoded.to_rgb8(),
            pixels_before,
            "lossless: the same pixels"
        );
    }

    #[test]
    fn a_rotated_jpeg_is_turned_upright_and_has_no_exif() {
        let original = with_exif(&jpeg(64, 48), 6);
        let processed = process_message_image(&original, ImageFormat::Jpeg, &LIMITS).unwrap();
        assert_eq!((processed.width, processed.height), (48, 64));
        assert!(!has_exif(&processed.clean));
        let decoded = image::load_from_memory(&processed.clean).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (48, 64));
        let thumb = image::load_from_memory(&processed.thumbnail).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (48, 64));
    }

    #[test]
    fn tiled_quarter_turns_match_the_image_crate() {
        let source = RgbImage::from_fn(130, 70, |x, y| {
            image::Rgb([x as u8, y as u8, (x ^ y) as u8])
        });
        for orientation in [Orientation::Rotate90, Orientation::Rotate270] {
            let mut expected = DynamicImage::ImageRgb8(source.clone());
            expected.apply_orientation(orientation);
            let turned = orient(DynamicImage::ImageRgb8(source.clone()), orientation);
            assert_eq!(turned, expected, "{orientation:?}");
        }
    }

    #[test]
    fn thumbnails_fit_320_and_avatars_640() {
        let big = jpeg(1000, 500);
        let processed = process_message_image(&big, ImageFormat::Jpeg, &LIMITS).unwrap();
        let thumb = image::load_from_memory(&processed.thumbnail).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (320, 160));
        let avatar = process_avatar(&big, ImageFormat::Jpeg, &LIMITS).unwrap();
        assert_eq!((avatar.width, avatar.height), (640, 320));
    }

    #[test]
    fn a_huge_header_is_refused_before_decoding() {
        let mut png = Vec::new();
        let image = DynamicImage::new_luma8(1, 1);
        image
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        // Rewrite IHDR to claim 30,000 x 30,000 (the CRC is not checked before the limits).
        png[16..20].copy_from_slice(&30_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&30_000u32.to_be_bytes());
        let refused = process_message_image(&png, ImageFormat::Png, &LIMITS).unwrap_err();
        assert!(matches!(
            refused,
            ImageRefusal::TooLarge { .. } | ImageRefusal::Undecodable
        ));
        let limits = ImageLimits {
            max_side: 40_000,
            max_alloc: 1024 * 1024,
        };
        let mut small = jpeg(600, 600);
        small.truncate(small.len());
        assert_eq!(
            process_message_image(&small, ImageFormat::Jpeg, &limits).unwrap_err(),
            ImageRefusal::TooLarge {
                width: 600,
                height: 600
            }
        );
    }

    #[test]
    fn png_gif_and_webp_lose_their_metadata_chunks() {
        let mut png = Vec::new();
        DynamicImage::new_rgb8(4, 4)
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        let mut text = 11u32.to_be_bytes().to_vec();
        text.extend_from_slice(b"tEXtComment\0gps");
        text.extend_from_slice(&[0, 0, 0, 0]);
        let tagged = [&png[..33], &text, &png[33..]].concat();
        let clean = strip_metadata(&tagged, ImageFormat::Png).unwrap();
        assert_eq!(clean, png);

        let mut gif = Vec::new();
        DynamicImage::new_rgb8(4, 4)
            .write_to(&mut Cursor::new(&mut gif), ImageFormat::Gif)
            .unwrap();
        let comment = b"\x21\xFE\x05hello\x00";
        let body = gif.iter().position(|b| *b == 0x2C || *b == 0x21).unwrap();
        let tagged = [&gif[..body], comment.as_slice(), &gif[body..]].concat();
        let clean = strip_metadata(&tagged, ImageFormat::Gif).unwrap();
        assert!(!clean.windows(5).any(|w| w == b"hello"));
        assert!(image::load_from_memory(&clean).is_ok());

        let webp =
            b"RIFF\x26\0\0\0WEBPVP8X\x0a\0\0\0\x08\0\0\0\0\0\0\0\0\0EXIF\x04\0\0\0gps!VP8L\0\0\0\0";
        let clean = strip_metadata(webp, ImageFormat::WebP).unwrap();
        assert!(!clean.windows(4).any(|w| w == b"EXIF"));
        assert_eq!(clean[20], 0, "the EXIF flag is cleared");
        assert_eq!(
            u32::from_le_bytes(clean[4..8].try_into().unwrap()) as usize,
            clean.len() - 8
        );
    }
}
