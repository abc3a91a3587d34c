// Answers `next/font/google` while Agent UI is built (scripts/agent-ui sets
// NEXT_FONT_GOOGLE_MOCKED_RESPONSES to this file): Next.js would fetch each font's CSS from
// fonts.googleapis.com, which CI cannot reach. Every requested URL gets a CSS rule that names the
// family and points it at a font installed locally, so the build never touches the network and
// the page renders in a system font; nothing the tests look at depends on the glyphs.
module.exports = new Proxy(
  {},
  {
    get(_target, url) {
      const match = /family=([^:&]+)/.exec(String(url));
      const family = match ? decodeURIComponent(match[1]).replace(/\+/g, " ") : "Offline";
      return (
        `@font-face { font-family: '${family}'; font-style: normal; font-weight: 400; ` +
        `src: local('DejaVu Sans'); }\n`
      );
    },
  },
);
