/** A writable stand-in for stdout/stderr that keeps what the CLI printed. */
export class TextSink {
  text = '';
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}
