// Exporting board pages: PNG through the canvas, PDF written here. Each PDF page holds the
// page rendered at 1920×1080 as a lossless image (zlib-deflated RGB, which PDF's
// FlateDecode reads as is), so the PDF shows exactly the pixels the board shows.

import type { BoardItem, PageInfo } from "../generated/protocol";
import { PAGE_HEIGHT, PAGE_WIDTH } from "./board-state";
import { drawPage } from "./render";

export interface PageToExport {
  info: PageInfo;
  items: readonly BoardItem[];
  background: CanvasImageSource | null;
}

export function renderPage(page: PageToExport): OffscreenCanvas {
  const canvas = new OffscreenCanvas(PAGE_WIDTH, PAGE_HEIGHT);
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error("no 2D canvas available");
  drawPage(ctx, page.items, page.background);
  return canvas;
}

export async function pagePng(page: PageToExport): Promise<Blob> {
  return renderPage(page).convertToBlob({ type: "image/png" });
}

/** SHA-256 of a page's rendered RGBA pixels, hex: equal boards hash equally. */
export async function pageHash(page: PageToExport): Promise<string> {
  const ctx = renderPage(page).getContext("2d")!;
  const data = ctx.getImageData(0, 0, PAGE_WIDTH, PAGE_HEIGHT).data;
  const digest = await crypto.subtle.digest("SHA-256", data);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function deflate(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function rgb(canvas: OffscreenCanvas): Uint8Array {
  const rgba = canvas.getContext("2d")!.getImageData(0, 0, PAGE_WIDTH, PAGE_HEIGHT).data;
  const out = new Uint8Array(PAGE_WIDTH * PAGE_HEIGHT * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    out[j] = rgba[i]!;
    out[j + 1] = rgba[i + 1]!;
    out[j + 2] = rgba[i + 2]!;
  }
  return out;
}

/** A PDF with one page per board page, 960×540 pt (the 1920×1080 image at 144 dpi). */
export async function pagesPdf(pages: readonly PageToExport[]): Promise<Blob> {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const offsets: number[] = [];
  let length = 0;
  const push = (b: Uint8Array) => {
    parts.push(b);
    length += b.length;
  };
  const text = (s: string) => push(enc.encode(s));
  const object = (n: number) => {
    offsets[n] = length;
    text(`${n} 0 obj\n`);
  };

  text("%PDF-1.4\n%\u00e2\u00e3\u00cf\u00d3\n");
  // Objects: 1 catalog, 2 page tree, then per page: page, content, image.
  const kids = pages.map((_, i) => `${3 + i * 3} 0 R`).join(" ");
  object(1);
  text("<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
  object(2);
  text(`<< /Type /Pages /Kids [${kids}] /Count ${pages.length} >>\nendobj\n`);
  for (let i = 0; i < pages.length; i++) {
    const [pageObj, contentObj, imageObj] = [3 + i * 3, 4 + i * 3, 5 + i * 3];
    const image = await deflate(rgb(renderPage(pages[i]!)));
    const content = enc.encode("q 960 0 0 540 0 0 cm /Im0 Do Q\n");
    object(pageObj);
    text(
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 960 540] /Resources << /XObject << /Im0 ${imageObj} 0 R >> >> /Contents ${contentObj} 0 R >>\nendobj\n`,
    );
    object(contentObj);
    text(`<< /Length ${content.length} >>\nstream\n`);
    push(content);
    text("endstream\nendobj\n");
    object(imageObj);
    text(
      `<< /Type /XObject /Subtype /Image /Width ${PAGE_WIDTH} /Height ${PAGE_HEIGHT} /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode /Length ${image.length} >>\nstream\n`,
    );
    push(image);
    text("\nendstream\nendobj\n");
  }
  const count = 3 + pages.length * 3;
  const xref = length;
  text(`xref\n0 ${count}\n0000000000 65535 f \n`);
  for (let n = 1; n < count; n++) text(`${String(offsets[n]).padStart(10, "0")} 00000 n \n`);
  text(`trailer\n<< /Size ${count} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`);
  return new Blob(parts as BlobPart[], { type: "application/pdf" });
}

export function download(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
