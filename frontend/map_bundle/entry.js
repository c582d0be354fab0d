'use strict';
// The maps' plotly: the core (scatter, layout, annotations, box and lasso selection) plus the two traces the maps draw.
var Plotly = require('plotly.js/lib/core');

Plotly.register([require('plotly.js/lib/scattergl'), require('plotly.js/lib/histogram2dcontour')]);
module.exports = Plotly;
