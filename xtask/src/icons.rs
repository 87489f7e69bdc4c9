//! The app's icons, drawn here as PNG files so the repository holds no binary: a white note
//! card with three lines on the brand blue. Everything drawn sits inside the middle 80%, the
//! safe zone of a maskable icon, so one picture serves both purposes.

use std::io::Write as _;

/// The brand blue (the manifest's `theme_color`).
const BRAND: [u8; 3] = [0x1d, 0x4e, 0x89];
const WHITE: [u8; 3] = [0xff, 0xff, 0xff];

/// The colour at `(x, y)` of a `size`-pixel icon, in fractions of the size.
fn colour(x: f32, y: f32) -> [u8; 3] {
    let on_card = (0.3..0.7).contains(&x) && (0.22..0.78).contains(&y);
    let on_line = (0.37..0.63).contains(&x)
        && [0.36, 0.48, 0.60]
            .iter()
            .any(|line| (*line..line + 0.045).contains(&y));
    if on_card && !on_line { WHITE } else { BRAND }
}

/// A `size`×`size` RGB PNG of the icon.
pub fn png(size: u32) -> anyhow::Result<Vec<u8>> {
    let scale = 1.0 / size as f32;
    let mut raw = Vec::new();
    for row in 0..size {
        raw.push(0); // filter: none
        for column in 0..size {
            raw.extend(colour(
                (column as f32 + 0.5) * scale,
                (row as f32 + 0.5) * scale,
            ));
        }
    }
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    zlib.write_all(&raw)?;

    let mut header = Vec::with_capacity(13);
    header.extend(size.to_be_bytes());
    header.extend(size.to_be_bytes());
    // 8 bits per sample, colour type 2 (RGB), deflate, no filter method, no interlace.
    header.extend([8, 2, 0, 0, 0]);

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &header)?;
    chunk(&mut png, b"IDAT", &zlib.finish()?)?;
    chunk(&mut png, b"IEND", &[])?;
    Ok(png)
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) -> anyhow::Result<()> {
    png.extend(u32::try_from(data.len())?.to_be_bytes());
    png.extend(kind);
    png.extend(data);
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    png.extend(crc.sum().to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_icon_is_a_png_of_its_size() {
        let png = png(192).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 192);
        assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 192);
        assert!(png.ends_with(&[b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82]));
    }

    #[test]
    fn the_picture_stays_inside_the_maskable_safe_zone() {
        // A maskable icon may be cut to a circle of 40% of its size around the middle.
        for row in 0..100 {
            for column in 0..100 {
                let (x, y) = (column as f32 / 100.0, row as f32 / 100.0);
                if (x - 0.5).hypot(y - 0.5) > 0.4 {
                    assert_eq!(colour(x, y), BRAND, "({x}, {y}) is outside the safe zone");
                }
            }
        }
        assert_eq!(colour(0.5, 0.3), WHITE);
        assert_eq!(colour(0.5, 0.37), BRAND);
    }
}
