// The console's third-party code, bundled into api/http/static/console/vendor.js.
import { h, render } from "preact";
import htm from "htm";

export { Fragment, h, render } from "preact";
export { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";

/** Tagged templates for Preact: html`<p>${text}</p>` (text is always rendered as text). */
export const html = htm.bind(h);
