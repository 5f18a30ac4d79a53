/**
 * The invoice PDFs the card tab has read from Xero, kept in memory by the link's state, so the PDF link costs one
 * Xero call per state of an invoice however often it is clicked, and two people (or two clicks) asking at once share
 * one read. In memory, bounded by bytes (the least recently used go first), and not in the store: a PDF is the
 * customer's document, read again from Xero at the price of one call, so the connector keeps no copy of it at rest
 * and a restart costs one read per PDF opened again. Whoever asks is still checked with Bitrix24 before each answer.
 */

/** Bytes of PDFs kept at most. (Default: 32 MiB) */
export const PDF_CACHE_BYTES = 32 * 1024 * 1024;
/** A PDF larger than this is served but not kept. (Default: 4 MiB) */
const LARGEST_KEPT = 4 * 1024 * 1024;

export class PdfCache {
  readonly #entries = new Map<string, { pdf: Buffer }>();
  readonly #reading = new Map<string, Promise<Buffer>>();
  #bytes = 0;

  constructor(private readonly maxBytes = PDF_CACHE_BYTES) {}

  /** The PDF kept for `key`, or the one `read` brings (a single read for everyone asking meanwhile). */
  async get(key: string, read: () => Promise<Buffer>): Promise<Buffer> {
    const kept = this.#entries.get(key);
    if (kept) {
      this.#entries.delete(key);
      this.#entries.set(key, kept); // most recently used last
      return kept.pdf;
    }
    let reading = this.#reading.get(key);
    if (!reading) {
      reading = read().then((pdf) => (this.keep(key, pdf), pdf)).finally(() => this.#reading.delete(key));
      this.#reading.set(key, reading);
    }
    return reading;
  }

  /** Bytes kept now. */
  get bytes(): number {
    return this.#bytes;
  }

  private keep(key: string, pdf: Buffer): void {
    if (pdf.length > LARGEST_KEPT || pdf.length > this.maxBytes) return;
    this.#entries.set(key, { pdf });
    this.#bytes += pdf.length;
    for (const [oldest, entry] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= entry.pdf.length;
    }
  }
}

/** A link's state as the PDF shows it: the Xero invoice, what Xero last said of it, what the connector last sent. */
export function pdfKey(link: { connectionId: number | null; xeroId: string; xeroUpdatedAt: number | null; xeroStatus: string | null; contentHash: string | null }): string {
  return [link.connectionId, link.xeroId.toLowerCase(), link.xeroUpdatedAt ?? '', link.xeroStatus ?? '', link.contentHash ?? ''].join('|');
}
