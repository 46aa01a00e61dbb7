// Plots the locations at their coordinates (longitude, latitude), one colour per type.
(function () {
  var points = JSON.parse(document.getElementById("network-data").textContent);
  var types = Array.from(new Set(points.map(function (p) { return p.type; })));
  echarts.init(document.getElementById("chart-network")).setOption({
    tooltip: { formatter: function (p) { return p.data.name + " (" + p.data.type + ")"; } },
    legend: { data: types },
    xAxis: { type: "value", scale: true, name: "lng" },
    yAxis: { type: "value", scale: true, name: "lat" },
    series: types.map(function (t) {
      return { name: t, type: "scatter", symbolSize: 9, data: points.filter(function (p) { return p.type === t; }) };
    }),
    animation: false
  });
})();
