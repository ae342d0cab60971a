import QRCode from 'qrcode';

/** A `data:image/png;base64,` PNG of the text (error correction M: readable from a screen). */
export function qrDataUrl(text: string): Promise<string> {
  return QRCode.toDataURL(text, { errorCorrectionLevel: 'M', margin: 2, scale: 6, type: 'image/png' });
}
