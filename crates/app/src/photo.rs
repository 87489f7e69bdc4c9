//! A contact card's photo, made ready on the device before it is kept: decoded by the browser
//! (turned the right way up, as the camera meant), drawn smaller on a canvas and encoded again
//! as JPEG. Drawing and encoding again keeps the pixels and nothing else, so the camera's
//! metadata (where the photo was taken, the phone, the time) never reaches the record.

use base64::Engine as _;
use fieldnotes_model::Picture;
use wasm_bindgen::{JsCast as _, JsValue};
use web_sys::{CanvasRenderingContext2d, File, HtmlCanvasElement, ImageBitmap};

use crate::profile::{PHOTO_EDGE, PHOTO_MAX_BYTES, PHOTO_QUALITIES, fit};

/// A photo made ready, and its size in pixels.
#[derive(Debug, Clone)]
pub struct Shrunk {
    pub picture: Picture,
    pub width: u32,
    pub height: u32,
}

/// Why a photo could not be used, and what to do: words for the form.
const NOT_A_PICTURE: &str = "This file is not a photo this browser can open. Choose a photo \
    (JPEG, PNG or WebP), or take one with the camera.";
const NO_CANVAS: &str = "This browser could not make the photo smaller, so it was not added. \
    Try again, or save the card without a photo.";

/// The photo in `file`, brought down to [`PHOTO_EDGE`] on its longest side and encoded as a
/// JPEG of at most [`PHOTO_MAX_BYTES`], or what to tell the person.
pub async fn shrink(file: &File) -> Result<Shrunk, String> {
    let window = web_sys::window().ok_or(NO_CANVAS)?;
    let decoding = window
        .create_image_bitmap_with_blob(file)
        .map_err(|_| NOT_A_PICTURE)?;
    let bitmap: ImageBitmap = wasm_bindgen_futures::JsFuture::from(decoding)
        .await
        .map_err(|_| NOT_A_PICTURE)?
        .unchecked_into();
    let (width, height) = fit(bitmap.width(), bitmap.height(), PHOTO_EDGE);
    let drawn = draw(&window, &bitmap, width, height);
    bitmap.close();
    let canvas = drawn.ok_or(NO_CANVAS)?;
    for quality in PHOTO_QUALITIES {
        let address = canvas
            .to_data_url_with_type_and_encoder_options("image/jpeg", &JsValue::from_f64(quality))
            .map_err(|_| NO_CANVAS)?;
        let bytes = address
            .split_once(',')
            .and_then(|(_, data)| base64::engine::general_purpose::STANDARD.decode(data).ok())
            .ok_or(NO_CANVAS)?;
        if bytes.len() <= PHOTO_MAX_BYTES {
            return Ok(Shrunk {
                picture: Picture {
                    media_type: "image/jpeg".to_owned(),
                    bytes,
                },
                width,
                height,
            });
        }
    }
    Err(format!(
        "This photo is still larger than {} KB once made smaller, so it was not added. Try a \
         plainer photo, closer up.",
        PHOTO_MAX_BYTES / 1024
    ))
}

/// A canvas of `width` × `height` holding `bitmap` drawn to fit, on white (a JPEG has no
/// transparency).
fn draw(
    window: &web_sys::Window,
    bitmap: &ImageBitmap,
    width: u32,
    height: u32,
) -> Option<HtmlCanvasElement> {
    let canvas: HtmlCanvasElement = window
        .document()?
        .create_element("canvas")
        .ok()?
        .unchecked_into();
    canvas.set_width(width);
    canvas.set_height(height);
    let context: CanvasRenderingContext2d = canvas.get_context("2d").ok()??.unchecked_into();
    let (w, h) = (f64::from(width), f64::from(height));
    context.set_fill_style_str("#fff");
    context.fill_rect(0.0, 0.0, w, h);
    context
        .draw_image_with_image_bitmap_and_dw_and_dh(bitmap, 0.0, 0.0, w, h)
        .ok()?;
    Some(canvas)
}
