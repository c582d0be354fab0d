// Builds ../../static/plotly-maps.min.js with the settings plotly.js's own esbuild-config.js uses for its bundles.
const esbuild = require('esbuild');
const path = require('path');
const { environmentPlugin } = require('esbuild-plugin-environment');
const { glsl } = require('esbuild-plugin-glsl');
const InlineCSSPlugin = require('esbuild-plugin-inline-css');
const version = require('plotly.js/package.json').version;

esbuild.build({
  entryPoints: [path.join(__dirname, 'entry.js')],
  outfile: path.join(__dirname, '..', '..', 'static', 'plotly-maps.min.js'),
  format: 'iife', globalName: 'RecsysPlotly', bundle: true, minify: true, sourcemap: false, legalComments: 'eof',
  banner: { js: `/* plotly.js v${version} (core, scattergl, histogram2dcontour); Copyright Plotly, Inc.; MIT licence */` },
  plugins: [InlineCSSPlugin(), glsl({ minify: true }), environmentPlugin({ NODE_DEBUG: false })],
  alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
  define: { global: 'window', 'define.amd': 'false' }, target: 'es2016', logLevel: 'info',
}).catch(() => process.exit(1));
